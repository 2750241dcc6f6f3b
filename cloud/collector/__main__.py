"""``python -m cloud.collector --config FILE [--client-id ID]``: the collector alone."""

from __future__ import annotations

import sys

from cloud.cli import collector_main

if __name__ == "__main__":
    sys.exit(collector_main(sys.argv[1:]))
