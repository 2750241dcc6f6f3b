#!/usr/bin/env bash
# Run the test suite: install what it needs (scripts/install.sh), then pytest with the given
# arguments (default: the whole tests/ directory). Collecting no tests is a failure here.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LINEINSPECT_VENV:-$ROOT/.venv}"

bash "$ROOT/scripts/install.sh" || exit $?

cd "$ROOT"
if [ $# -eq 0 ]; then
    set -- tests/
fi
"$VENV/bin/python" -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test.sh: pytest collected no tests for: $* (treated as a failure)" >&2
    exit 1
fi
exit "$rc"
