"""Environment overrides through pydantic-settings, from a mapping passed in (never read at
import): ``LINEINSPECT_MQTT__PASSWORD`` -> ``{"mqtt": {"password": ...}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_settings import BaseSettings, EnvSettingsSource

ENV_PREFIX = "LINEINSPECT_"
ENV_NESTED_DELIMITER = "__"


class MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env source (JSON for lists/dicts, ``__`` nesting), fed ``env``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = dict(env)
        super().__init__(
            settings_cls,
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=ENV_NESTED_DELIMITER,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # The one hook pydantic-settings has for where variables come from; names are matched
        # case-insensitively, as the base class does with case_sensitive=False.
        return {name.lower(): value for name, value in self._env.items()}


def env_origins(env: Mapping[str, str]) -> dict[str, str]:
    """Field path (``mqtt.password``) -> the variable that sets it, for error messages."""
    out: dict[str, str] = {}
    for name in env:
        if name.upper().startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            path = name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER)
            out[".".join(path)] = name
    return out


def deep_merge(
    base: dict[str, Any], override: Mapping[str, Any], where: str = ""
) -> dict[str, Any]:
    """``base`` updated by ``override``; nested mappings merge, anything else replaces. A
    mapping with numeric keys merges into a list by index, so ``LINEINSPECT_CAMERAS__0__ID``
    changes the first camera; ``ValueError`` if that camera does not exist."""
    out = dict(base)
    for key, value in override.items():
        current = out.get(key)
        path = f"{where}.{key}" if where else key
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = deep_merge(dict(current), value, path)
        elif isinstance(value, Mapping) and isinstance(current, list) and value:
            out[key] = _merge_list(current, value, path)
        else:
            out[key] = value
    return out


def _merge_list(base: list[Any], override: Mapping[str, Any], where: str) -> list[Any]:
    out = list(base)
    for key, value in override.items():
        if not str(key).isdigit() or int(key) >= len(out):
            raise ValueError(
                f"{where}.{key}: no such list entry to override ({len(out)} in the file); "
                f"set the whole list as JSON in {ENV_PREFIX}{where.upper().replace('.', '__')}"
            )
        i = int(key)
        if isinstance(value, Mapping) and isinstance(out[i], Mapping):
            out[i] = deep_merge(dict(out[i]), value, f"{where}.{i}")
        else:
            out[i] = value
    return out
