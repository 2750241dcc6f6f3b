#!/usr/bin/env bash
# The adaptation curve of the model card (issue 13): `models finetune` from a v3 checkpoint on
# 25 / 50 / 100 / 200 labelled frames of the held-out lines, each scored by event recall on those
# lines' evaluation videos (seeds 1000-1002, frames 0-449) through the edge runtime.
#
#   bash scripts/detector_adaptation_curve.sh BASE.pt            # every size in turn
#   ADAPT_NS="100" bash scripts/detector_adaptation_curve.sh BASE.pt
#   ADAPT_NAME=h960-n bash scripts/detector_adaptation_curve.sh BASE.pt
#
# finetune trains and exports at the base's own input size (640 for stage G, 960 from stage H;
# the frames stay 640 wide, a 640 px camera). ADAPT_NAME (default line-n) prefixes the run
# names, so a second base's curve gets its own runs instead of finding the first one's finished.
#
# The frames are the same three lines' later footage, as a user labels frames of their own line:
# 68 frames of each (one in 7 from frame 600, where no part of the evaluation clip is in view any
# more; synth-conveyor --first-frame), validation 34 frames of two other held-out lines
# (1003, 1004). The N-frame set takes every (204/N)-th training frame in name order (26, 51,
# 102, 204 frames), so the sets are nested and each spans the three lines. The rest is
# finetune's default recipe (150 replay frames, backbone frozen, AdamW lr 0.001, 12 epochs).
# State lives beside the v3 recipe's (LINEINSPECT_TRAIN_DIR, default ~/.cache/lineinspect/train-v3);
# the evaluation videos come from scripts/train_detector_v3.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LINEINSPECT_VENV:-$ROOT/.venv}"
DIR="${LINEINSPECT_TRAIN_DIR:-$HOME/.cache/lineinspect/train-v3}"
LI="$VENV/bin/lineinspect"
BASE="$(realpath "${1:?usage: detector_adaptation_curve.sh BASE.pt}")"
cd "$DIR"
mkdir -p data logs evals

ALL=data/adapt-line-h2-w640
[ -f "$ALL/data.yaml" ] || "$LI" models synth-conveyor --world heldout --first-seed 1000 \
    --train-scenes 3 --val-scenes 2 --frames 68 --every 7 --size 640 --first-frame 600 \
    --out "$ALL"

for n in ${ADAPT_NS:-100 25 50 200}; do
    RUN="${ADAPT_NAME:-line-n}$n"
    SUB="$ALL-n$n"
    [ -f "$SUB/data.yaml" ] || "$VENV/bin/python" - "$ALL" "$SUB" "$n" <<'PY'
import shutil, sys
from pathlib import Path
src, dst, n = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve(), int(sys.argv[3])
for split in ("train", "val"):
    images = sorted((src / "images" / split).iterdir())
    images = images[:: len(images) // n] if split == "train" else images[::4]
    for sub in ("images", "labels"):
        (dst / sub / split).mkdir(parents=True, exist_ok=True)
    for img in images:
        (dst / "images" / split / img.name).symlink_to(img)
        shutil.copy(src / "labels" / split / f"{img.stem}.txt", dst / "labels" / split)
text = (src / "data.yaml").read_text().replace(f"path: {src}", f"path: {dst}")
(dst / "data.yaml").write_text(text)
PY
    "$LI" models finetune --data "$SUB/data.yaml" --base "$BASE" \
        --out adapt --name "$RUN" --version 3 > "logs/adapt-$RUN.log" 2>&1
    "$LI" models eval-events --model "adapt/$RUN/export/lineinspect-det-v3.onnx" \
        --video videos/heldout-h2-*.mp4 --workdir "evals/ev-adapt-$RUN" \
        --json "evals/adapt-$RUN-events.json"
done
