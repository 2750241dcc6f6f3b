"""YAML in (strict: duplicate keys are errors, positions in every message) and out (masked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lineinspect.config.errors import ConfigError, ConfigIssue
from lineinspect.config.secrets import masked


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: YAML silently keeps the last one, which hides
    typos like two ``mqtt:`` sections."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"duplicate key {key!r} (first at line {seen[key].line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _yaml_issue(exc: yaml.YAMLError) -> ConfigIssue:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    reason = f"{context}: {problem}" if context else str(problem)
    if mark is not None:
        return ConfigIssue(f"line {mark.line + 1}, column {mark.column + 1}", f"YAML: {reason}")
    return ConfigIssue("(file)", f"YAML: {reason}")


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; an empty file is ``{}``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [ConfigIssue("(file)", "file does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [ConfigIssue("(file)", f"cannot read: {exc}")]) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [_yaml_issue(exc)]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            str(path),
            [
                ConfigIssue(
                    "(top level)", f"expected a mapping of settings, got {type(data).__name__}"
                )
            ],
        )
    return data


def dump_masked_yaml(data: Any) -> str:
    """YAML text of ``data`` with secrets masked; key order kept as the models declare it."""
    return yaml.safe_dump(
        masked(data), sort_keys=False, allow_unicode=True, default_flow_style=None
    )
