#!/usr/bin/env bash
# Set up and run the demo on a fresh machine: no root, no services, no torch.
# A venv in .venv-demo with the edge and cloud run times only, then `lineinspect demo`
# (embedded broker, edge agent on the synthetic conveyor, collector, embedded store, viewer).
# Arguments go to `lineinspect demo` (e.g. --seconds 60, --edge-port 8080).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LINEINSPECT_DEMO_VENV:-$ROOT/.venv-demo}"
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "demo.sh: Python >= 3.10 is needed ($PY is $("$PY" -V 2>&1))" >&2
    exit 1
fi
STAMP="$VENV/.lineinspect-demo-stamp"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e "$ROOT[edge,cloud]"
    echo "$WANT" > "$STAMP"
fi
cd "$ROOT"
exec "$VENV/bin/lineinspect" demo "$@"
