"""The ``lineinspect`` command: one entry point, sub-commands registered by each area."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

# Each area contributes ``register(subparsers)``; imports stay lazy so ``--help`` is quick and
# the edge never imports training code.
REGISTRARS: tuple[str, ...] = (
    "models.cli",
    "edge.cli",
    "lineinspect.config_cli",
    "edge.predict_cli",
    "lineinspect.demo",
    "cloud.cli",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="lineinspect",
        description="Streaming edge inspection for production lines.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod_name in REGISTRARS:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:  # an area whose extra is not installed
            if exc.name and mod_name.startswith(exc.name.split(".")[0]):
                raise
            continue
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
