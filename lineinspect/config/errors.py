"""One error type for every way a config can be wrong, each issue naming the field path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

# Discriminated unions select their member by this key; pydantic puts the selected tag into the
# error location, which users never wrote, so it is dropped from the path shown to them.
_DISCRIMINATOR_KEYS = ("kind",)


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ConfigError(ValueError):
    """The config cannot be used; ``issues`` lists every problem found, not just the first."""

    def __init__(self, source: str, issues: Sequence[ConfigIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        noun = "error" if len(self.issues) == 1 else "errors"
        lines = [f"{source}: {len(self.issues)} {noun}"] + [f"  {i}" for i in self.issues]
        super().__init__("\n".join(lines))


def _user_path(loc: Sequence[int | str], data: Any) -> list[str]:
    """``loc`` without discriminator tags and union-member names the user never typed."""
    out: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping):
            if part in node:
                out.append(str(part))
                node = node[part]
                continue
            if any(node.get(k) == part for k in _DISCRIMINATOR_KEYS):
                continue
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(str(part))
            node = node[part]
            continue
        elif not isinstance(node, Mapping | list) and node is not None and out:
            # Below a scalar only union-member names ("int", "str") can follow.
            continue
        out.append(str(part))
        node = None
    return out


def _reason(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def issues_from_validation(
    exc: ValidationError, data: Any, origins: Mapping[str, str] | None = None
) -> list[ConfigIssue]:
    """Turn a pydantic error into issues; ``origins`` maps a field path to the env var that
    set it, so an error caused by the environment says so."""
    issues: list[ConfigIssue] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors():
        path = ".".join(_user_path(err["loc"], data)) or "(top level)"
        reason = _reason(err)
        origin = _origin(path, origins or {})
        if origin:
            reason = f"{reason} (set by environment variable {origin})"
        if (path, reason) not in seen:
            seen.add((path, reason))
            issues.append(ConfigIssue(path, reason))
    return issues


def _origin(path: str, origins: Mapping[str, str]) -> str | None:
    probe = path
    while probe:
        if probe in origins:
            return origins[probe]
        probe = probe.rpartition(".")[0]
    return None

