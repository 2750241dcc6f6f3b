"""`lineinspect models finetune` end to end on a tiny set, offline: from the shipped checkpoint,
class ids kept by name, replay mixed in, an ONNX + INT8 pair the edge loads, checkpoint beside."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lineinspect.manifest import checkpoint_path, load_manifest, manifest_path_for
from models.data.randomized import write_randomized
from models.train.finetune import class_union

REPO = Path(__file__).resolve().parents[1]


def test_class_union_keeps_the_base_ids_and_appends_new_names() -> None:
    names, id_map = class_union(["scratch", "crack", "dent", "part"], ["dent", "burr", "scratch"])
    assert names == ["scratch", "crack", "dent", "part", "burr"]
    assert id_map == {0: 2, 1: 4, 2: 0}


def _their_line(tmp: Path) -> Path:
    """A user's labelled frames, with their own class order (dent first, no part)."""
    src = write_randomized(tmp / "src", {"train": 6, "val": 3}, seed=9, world="heldout",
                           workers=1)
    doc = yaml.safe_load(src.read_text())
    order = ["dent", "scratch", "crack"]
    to_theirs = {0: 1, 1: 2, 2: 0}  # ours (scratch, crack, dent) -> their ids
    for split in ("train", "val"):
        for f in (tmp / "src" / "labels" / split).glob("*.txt"):
            rows = [r.split() for r in f.read_text().splitlines()]
            f.write_text("".join(" ".join([str(to_theirs[int(r[0])]), *r[1:]]) + "\n"
                                 for r in rows if int(r[0]) in to_theirs))
    doc["names"] = dict(enumerate(order))
    src.write_text(yaml.safe_dump(doc))
    return src


@pytest.mark.slow
def test_finetune_one_epoch_offline_exports_a_model_the_edge_loads(tmp_path: Path) -> None:
    data = _their_line(tmp_path)
    out = tmp_path / "ft"
    proc = subprocess.run(
        [sys.executable, "-m", "lineinspect.cli", "models", "finetune", "--data", str(data),
         "--out", str(out), "--epochs", "1", "--replay", "4", "--batch", "4"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "line" / "summary.json").read_text())
    fp32, int8 = (Path(p) for p in summary["models"])
    for model in (fp32, int8):
        manifest = load_manifest(manifest_path_for(model))
        # The shipped ids are kept: the user's `dent` (their id 0) is still class 2.
        assert manifest.class_names[:3] == ["scratch", "crack", "dent"]
        assert checkpoint_path(model, manifest).is_file()
    assert summary["data"]["frames"] == {"train": 6, "val": 3}
    assert set(summary["val"]) == {fp32.name, int8.name}
    labels = (out / "line" / "data" / "train" / "labels")
    ids = {int(r.split()[0]) for f in labels.glob("*.txt") for r in f.read_text().splitlines()}
    assert ids <= {0, 1, 2} and ids

    from edge.detect.detector import Detector
    from edge.detect.settings import DetectorSettings

    det = Detector(DetectorSettings(model=int8, providers=["cpu"]))
    assert list(det.class_names) == load_manifest(manifest_path_for(int8)).class_names

    # The same command again: the finished run is not trained again (ultralytics, asked to
    # resume it, would fall back to its default dataset and try to download it).
    best = out / "line" / "train" / "run" / "weights" / "best.pt"
    trained = best.stat().st_mtime_ns
    again = subprocess.run(proc.args, cwd=tmp_path, capture_output=True, text=True, timeout=900,
                           check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "finished earlier" in again.stderr
    assert best.stat().st_mtime_ns == trained
