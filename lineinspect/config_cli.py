"""``lineinspect config check FILE``: validate a settings file and show what it resolves to."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from lineinspect.config.errors import ConfigError, ConfigIssue
from lineinspect.config.yamlio import read_yaml_mapping

Role = Literal["edge", "cloud"]

_EDGE_KEYS = frozenset(
    {"site", "line", "station", "cameras", "detector", "tracking", "mqtt", "outbox", "alarms",
     "severity", "stats", "stream"}
)  # fmt: skip
_CLOUD_KEYS = frozenset({"collector", "influx", "store"})

HELP = """\
Validate an edge or cloud settings file, with LINEINSPECT_* environment overrides applied
(e.g. LINEINSPECT_MQTT__PASSWORD, LINEINSPECT_CAMERAS__0__SOURCE__URL; whole lists and
mappings as JSON).

On success prints the resolved settings as YAML, secrets shown as ********, and exits 0.
Otherwise prints every problem as `field.path: reason` and exits 1.
The role is guessed from the top-level keys (cameras/detector -> edge, collector/influx ->
cloud) unless --role is given.
"""


def detect_role(data: dict[str, Any]) -> Role | None:
    keys = set(data)
    edge, cloud = bool(keys & _EDGE_KEYS), bool(keys & _CLOUD_KEYS)
    if edge == cloud:
        return None
    return "edge" if edge else "cloud"


def check(path: Path, role: Role | None) -> tuple[int, str]:
    """Exit code and the text to show (stdout on success, stderr on failure)."""
    # Imported here so `lineinspect --help` stays quick and a role's extras are not needed
    # to check the other role's file.
    try:
        if role is None:
            role = detect_role(read_yaml_mapping(path))
            if role is None:
                raise ConfigError(
                    str(path),
                    [ConfigIssue("(top level)", "cannot tell an edge from a cloud config by its "
                                 "keys; pass --role edge or --role cloud")],
                )  # fmt: skip
        if role == "edge":
            from edge.settings import load_edge_settings

            text = load_edge_settings(path).masked_yaml()
        else:
            from cloud.settings import load_cloud_settings

            text = load_cloud_settings(path).masked_yaml()
    except ConfigError as exc:
        return 1, str(exc)
    return 0, f"# {path}: valid {role} settings (secrets masked)\n{text}"


def _handle(args: argparse.Namespace) -> int:
    code, text = check(Path(args.file), args.role)
    print(text, file=sys.stdout if code == 0 else sys.stderr, end="" if code == 0 else "\n")
    return code


def register(subparsers: Any) -> None:
    config = subparsers.add_parser("config", help="settings files", description="Settings files.")
    sub = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    chk = sub.add_parser(
        "check",
        help="validate a settings file and print it resolved",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chk.add_argument("file", metavar="FILE", help="edge or cloud settings YAML")
    chk.add_argument("--role", choices=("edge", "cloud"), help="default: guessed from the keys")
    chk.set_defaults(handler=_handle)
