#!/usr/bin/env bash
# The v3 detector recipe, end to end and resumable: rerun the same command after an interruption
# and every finished step is skipped, an interrupted training resumes from its last.pt.
#
#   bash scripts/train_detector_v3.sh            # data, stage A training, held-out sets
#   bash scripts/train_detector_v3.sh eval       # + held-out figures of the newest checkpoint
#
# State lives outside the repository (datasets and runs are regenerable, never committed):
#   LINEINSPECT_TRAIN_DIR   default ~/.cache/lineinspect/train-v3
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LINEINSPECT_VENV:-$ROOT/.venv}"
DIR="${LINEINSPECT_TRAIN_DIR:-$HOME/.cache/lineinspect/train-v3}"
LI="$VENV/bin/lineinspect"
mkdir -p "$DIR" && cd "$DIR"

# 1. The start: v2's weights, rebuilt exactly from the shipped ONNX (only the ONNX shipped then).
[ -f v2-recovered.pt ] || "$VENV/bin/python" -c "
from pathlib import Path
from models.train.recover import write_checkpoint
write_checkpoint(Path('$ROOT/models/artifacts/detector/lineinspect-det-v2.onnx'),
                 ['scratch', 'crack', 'dent'], 416, Path('v2-recovered.pt'))"

# 2. Data: 6,000 + 400 randomised frames of the training world (held-out families never drawn);
#    held-out stills, the defect-synthesis set and three held-out line videos for the figures.
#    V3_SEED picks the training world's images: a continuation draws fresh ones (many distinct
#    images beat many epochs over few); seed 1 is the first stage's set.
#    V3_IMGSZ (default 416) is the model input and the frames' width: the stills are rendered at
#    it (data folders get a -w<size> suffix) and the held-out stills too.
#    V3_RENDER (default V3_IMGSZ) renders the frames at another width than the model input:
#    a 640 px camera's frames at a 960 px input are upscaled by the edge's letterbox, and a
#    model trained at 960 must learn from exactly that view, not from frames drawn at 960.
SEED="${V3_SEED:-1}"
IMGSZ="${V3_IMGSZ:-416}"
RENDER="${V3_RENDER:-$IMGSZ}"
W="$( [ "$RENDER" = 416 ] || echo "-w$RENDER" )"
TRAIN="rand-train$( [ "$SEED" = 1 ] || echo "-s$SEED" )$W"
# H names the held-out world's revision: h2 added the `link` family (stop 20), so its sets are
# rendered afresh and figures are only compared within one revision.
H="h2"
HELDOUT="rand-heldout-$H$W"
[ -f "data/$TRAIN/data.yaml" ] || "$LI" models synth --world train --out "data/$TRAIN" \
    --train "${V3_IMAGES:-6000}" --val 400 --seed "$SEED" --size "$RENDER"
[ -f "data/$HELDOUT/data.yaml" ] || "$LI" models synth --world heldout \
    --out "data/$HELDOUT" --train 0 --val 0 --test 400 --seed 1000 --size "$RENDER"
[ -f data/external/data.yaml ] || "$LI" models synth-external --out data/external --count 300
for s in 1000 1001 1002; do
    [ -f "videos/heldout-$H-$s.gt.jsonl" ] || "$LI" models synth-video --world heldout \
        --seed "$s" --seconds 30 --out "videos/heldout-$H-$s.mp4"
done

# 3. Stage A: V3_EPOCHS (default 6) epochs at 416 from the v2 weights (a new head row for
#    `part`), AdamW (auto). The epoch count sets the learning-rate schedule: a resumed run keeps
#    the count it started with. A machine whose state does not outlive a session continues
#    from the weights an earlier session committed (models/checkpoints/, see its README):
#      V3_START=<repo>/models/checkpoints/lineinspect-det-v3-wip.pt V3_NAME=v3-l960 V3_SEED=15 \
#      V3_RENDER=640 V3_IMGSZ=960 V3_IMAGES=1800 V3_CLASSIC=300 V3_CONVEYOR=20 V3_EPOCHS=2 \
#      V3_CLOSE_MOSAIC=1 bash ...   (the wip is at 960 px, trained on 640-wide frames)
#    V3_CLASSIC=N adds N of v2's stills (its own renderer, parts labelled, seed 100 + V3_SEED,
#    as wide as the frames) to the training frames, so v3 keeps what v2 does in distribution.
#    V3_CONVEYOR=N adds frames of N scenes of v2's conveyor (30 frames each, one in 7, parts
#    labelled, as wide as the frames; scenes 200 + 40 x V3_SEED on, never the test scenes 0-1
#    nor the card's held-out conveyor scenes 2-9): v2 learnt the camera's view of its own line
#    from such frames, and v3 trained without them found 0.6 of the test scene's defects.
NAME="${V3_NAME:-v3-a}"
DATA="data/$TRAIN/data.yaml"
EXTRA=()
if [ "${V3_CLASSIC:-0}" -gt 0 ]; then
    CLASSIC="classic-parts-s$SEED-n$V3_CLASSIC-w$RENDER"
    [ -f "data/$CLASSIC/data.yaml" ] || "$LI" models synth --parts --out "data/$CLASSIC" \
        --train "$V3_CLASSIC" --val 0 --seed "$((100 + SEED))" --size "$RENDER"
    EXTRA+=("$CLASSIC")
fi
if [ "${V3_CONVEYOR:-0}" -gt 0 ]; then
    CONVEYOR="classic-conveyor-s$SEED-n$V3_CONVEYOR-w$RENDER"
    [ -f "data/$CONVEYOR/data.yaml" ] || "$LI" models synth-conveyor --parts \
        --out "data/$CONVEYOR" --first-seed "$((200 + 40 * SEED))" \
        --train-scenes "$V3_CONVEYOR" --val-scenes 0 --frames 30 --every 7 --size "$RENDER"
    EXTRA+=("$CONVEYOR")
fi
if [ "${#EXTRA[@]}" -gt 0 ]; then
    DATA="data/mix-$TRAIN$(printf -- '-%s' "${EXTRA[@]}").yaml"
    [ -f "$DATA" ] || "$VENV/bin/python" - "$DIR" "$TRAIN" "$DATA" "${EXTRA[@]}" <<'PY'
import sys, yaml
root, train, out, *extra = sys.argv[1:]
doc = yaml.safe_load(open(f"{root}/data/{train}/data.yaml"))
doc["train"] = [f"{root}/data/{d}/images/train" for d in (train, *extra)]
doc["val"] = f"{root}/data/{train}/images/val"
doc["path"] = root
open(out, "w").write(yaml.safe_dump(doc, sort_keys=False))
PY
fi
"$LI" models train-detector --data "$DATA" --model "${V3_START:-v2-recovered.pt}" \
    --epochs "${V3_EPOCHS:-6}" --imgsz "$IMGSZ" --batch 16 --workers 2 \
    --close-mosaic "${V3_CLOSE_MOSAIC:-2}" \
    --name "$NAME" --project runs/detect

if [ "${1:-}" = "eval" ]; then
    WEIGHTS="runs/detect/$NAME/weights"
    "$LI" models export --weights "$WEIGHTS/best.pt" --imgsz "$IMGSZ" --version 3 --out export --int8 \
        --calib-data "data/$TRAIN/images/val" --dataset "data/$TRAIN"
    for set in "$HELDOUT" external; do
        "$LI" models eval --model export/lineinspect-det-v3.onnx --data "data/$set/data.yaml" \
            --split test --json "evals/v3-$set.json"
    done
    "$LI" models eval-events --model export/lineinspect-det-v3.onnx --video videos/heldout-$H-*.mp4 \
        --workdir evals/ev-v3 --json evals/v3-events-heldout.json
fi
