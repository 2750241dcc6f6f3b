"""``lineinspect edge …`` sub-commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RUN_HELP = """\
Run the edge agent: capture every configured camera (newest frame wins), detect defects with
the ONNX model, track them so each physical defect gives one `new` event (then `update`s and
one `end`), and hand the events to the configured outputs. Stops cleanly on Ctrl-C / SIGTERM,
or when every (finite) source has ended.
"""


def _run(args: argparse.Namespace) -> int:
    from edge.run import run_edge
    from edge.settings import load_edge_settings
    from lineinspect.config.errors import ConfigError
    from lineinspect.logsetup import setup_logging

    try:
        settings = load_edge_settings(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(settings.logging)
    return run_edge(settings, events_jsonl=args.events_jsonl, mqtt=not args.no_mqtt,
                    api=not args.no_api)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edge", help="the edge agent (capture, detect, track, publish)",
                       description="Edge agent commands.")
    esub = p.add_subparsers(dest="edge_command", metavar="COMMAND", required=True)
    r = esub.add_parser("run", help="run the edge agent", description=RUN_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--config", type=Path, required=True, help="edge settings YAML")
    r.add_argument("--events-jsonl", metavar="PATH|-", default=None,
                   help="also write every event as a JSON line to PATH (- for stdout)")
    r.add_argument("--no-mqtt", action="store_true",
                   help="do not publish (no broker, embedded or configured)")
    r.add_argument("--no-api", action="store_true",
                   help="do not serve the HTTP API, viewer and live stream")
    r.set_defaults(handler=_run)
