#!/usr/bin/env bash
# The v3 detector's training on a lent GPU box, in one call: minutes there instead of hours of
# this project's 2-core machines. Two halves:
#
#   bash scripts/device_train_detector.sh prepare   # here: fetch the wheels the box lacks (.whl/)
#   bash scripts/device_train_detector.sh run       # there, as the device tool's command, with
#                                                   # carry [".whl"]; results land in $OUT
#
# The box has Python 3.12 with torch, torchvision, numpy, OpenCV and PyYAML, but no network and
# none of our extras: ultralytics travels as a wheel; models.train.timeboxed needs nothing else.
# Environment (run): DEV_START (checkpoint; default the committed v3 work in progress),
# DEV_MINUTES (training budget, default 6), DEV_TRAIN (frames, default 12000), DEV_SEED (6: frames no
# CPU stage has trained on; seeds 1, 3, 4 are stages A-C, 5 the 640 stage D),
# DEV_BATCH (64), DEV_IMGSZ (416; frames are rendered this wide unless DEV_RENDER says:
# DEV_IMGSZ=960 DEV_RENDER=640 continues the committed 960 stage as it was trained),
# DEV_DEVICE (0; "cpu" to rehearse it here with tiny sizes),
# DEV_WORK (rendered frames and runs; default /tmp/lineinspect-timeboxed).
# Back here: export and score the weights with the project's own commands, e.g.
#   lineinspect models export --weights <files_at>/best.pt --imgsz 416 --version 3 ...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ULTRALYTICS="${DEV_ULTRALYTICS:-ultralytics==$(
    "${LINEINSPECT_VENV:-$ROOT/.venv}/bin/python" -c 'import ultralytics; print(ultralytics.__version__)' 2>/dev/null || echo 8.4.190)}"

case "${1:-}" in
prepare)
    mkdir -p .whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux2014_x86_64 -d .whl "$ULTRALYTICS"
    ls -l .whl
    ;;
run)
    : "${OUT:?OUT is the folder whose files come back (the device tool sets it)}"
    SITE="${DEV_SITE:-/tmp/lineinspect-site}"
    if ! python3 -c 'import ultralytics' 2>/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$SITE" .whl/*.whl
        export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv
    python3 -m models.train.timeboxed \
        --start "${DEV_START:-models/checkpoints/lineinspect-det-v3-wip.pt}" --out "$OUT" \
        --minutes "${DEV_MINUTES:-6}" --train "${DEV_TRAIN:-12000}" --val "${DEV_VAL:-400}" \
        --seed "${DEV_SEED:-6}" --batch "${DEV_BATCH:-64}" --imgsz "${DEV_IMGSZ:-416}" \
        --render "${DEV_RENDER:-${DEV_IMGSZ:-416}}" \
        --device "${DEV_DEVICE:-0}" --work "${DEV_WORK:-/tmp/lineinspect-timeboxed}" 2>&1 |
        tee "$OUT/train.log"
    ;;
*)
    echo "usage: $0 prepare|run" >&2
    exit 2
    ;;
esac
