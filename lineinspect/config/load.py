"""Load a role's settings: YAML file, then ``LINEINSPECT_*`` environment overrides, then
validation, then checks of files the settings point at. Every problem is reported at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from pydantic_settings.exceptions import SettingsError

from lineinspect.config.envsource import MappingEnvSource, deep_merge, env_origins
from lineinspect.config.errors import ConfigError, ConfigIssue, issues_from_validation
from lineinspect.config.yamlio import dump_masked_yaml, read_yaml_mapping


class RoleSettings(BaseSettings):
    """Root of a role's settings. Constructing one never reads the process environment: the
    environment is applied only by :func:`load_settings`, from the mapping it is given."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @classmethod
    def file_issues(cls, data: Mapping[str, Any]) -> list[ConfigIssue]:
        """Files the raw settings name that cannot be read. Works on the unvalidated data so
        a missing model file is reported together with, not after, every other error."""
        return []

    def extra_issues(self) -> list[ConfigIssue]:
        """Problems spanning sections (e.g. an alarm zone no camera defines)."""
        return []

    def masked_yaml(self) -> str:
        return dump_masked_yaml(self.model_dump(mode="python"))


S = TypeVar("S", bound=RoleSettings)


def load_settings(cls: type[S], path: Path | str, env: Mapping[str, str] | None = None) -> S:
    """``cls`` from the YAML file at ``path`` overridden by ``env`` (default: ``os.environ``);
    raises :class:`ConfigError` listing every problem."""
    path = Path(path)
    env = os.environ if env is None else env
    data = read_yaml_mapping(path)
    try:
        overrides = MappingEnvSource(cls, env)()
    except SettingsError as exc:
        raise ConfigError(str(path), [ConfigIssue("(environment)", str(exc))]) from None
    try:
        merged = deep_merge(data, overrides)
    except ValueError as exc:
        raise ConfigError(str(path), [ConfigIssue("(environment)", str(exc))]) from None
    file_problems = cls.file_issues(merged)
    try:
        settings = cls.model_validate(merged)
    except ValidationError as exc:
        issues = issues_from_validation(exc, merged, env_origins(env))
        raise ConfigError(str(path), _dedupe(issues + file_problems)) from None
    problems = file_problems + settings.extra_issues()
    if problems:
        raise ConfigError(str(path), problems)
    return settings


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))


def file_issue(field_path: str, path: Any, want_dir: bool = False) -> ConfigIssue | None:
    """An issue if ``path`` is not a readable file (or directory), else ``None``. Anything but
    a non-empty string or ``Path`` is left to model validation to report."""
    if isinstance(path, str) and path:
        path = Path(path)
    if not isinstance(path, Path):
        return None
    if want_dir:
        if not path.is_dir():
            return ConfigIssue(field_path, f"directory {str(path)!r} does not exist")
        if not os.access(path, os.R_OK | os.X_OK):
            return ConfigIssue(field_path, f"directory {str(path)!r} is not readable")
        return None
    if not path.exists():
        return ConfigIssue(field_path, f"file {str(path)!r} does not exist")
    if path.is_dir():
        return ConfigIssue(field_path, f"{str(path)!r} is a directory, expected a file")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return ConfigIssue(field_path, f"cannot read {str(path)!r}: {exc.strerror or exc}")
    return None
