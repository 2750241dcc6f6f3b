"""``python -m cloud.collector --config FILE [--client-id ID]``: the collector alone."""

from __future__ import annotations

import sys

from lineinspect.cli import main

if __name__ == "__main__":
    sys.exit(main(["cloud", "run", "--no-api", *sys.argv[1:]]))
