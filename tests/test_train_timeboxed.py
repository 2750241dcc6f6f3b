"""The time-boxed trainer for a lent GPU box, rehearsed on this CPU with tiny sizes.

The box has no polars, pydantic or MLflow: the child process is run with those imports made to
fail, so a dependency creeping into ``models.train.timeboxed`` fails here, not on borrowed
minutes. The GPU itself cannot run here; ``--device cpu`` is the only difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.train.detector import TrainConfig
from models.train.timeboxed import AUGMENT, train_kwargs

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "artifacts" / "detector" / "lineinspect-det-v2.pt"

# What the box lacks, made unimportable in the child (a sitecustomize runs before anything).
BLOCK = """
import sys
for name in ("polars", "pydantic", "mlflow"):
    sys.modules[name] = None
"""


def test_augmentation_is_train_detector_s() -> None:
    defaults = TrainConfig(data=Path("x.yaml")).model_dump()
    assert {k: defaults[k] for k in AUGMENT} == AUGMENT


def test_a_time_budget_not_an_epoch_count() -> None:
    kw = train_kwargs(Path("d.yaml"), 6.0, 416, 64, 16, "0", Path("p"), "n")
    assert kw["time"] == pytest.approx(0.1)
    assert kw["amp"] is True  # a GPU trains in mixed precision
    assert train_kwargs(Path("d.yaml"), 1.0, 416, 8, 2, "cpu", Path("p"), "n")["amp"] is False


@pytest.mark.slow
def test_device_script_trains_without_the_box_s_missing_packages(tmp_path: Path) -> None:
    """``scripts/device_train_detector.sh run`` as the device tool runs it, on the CPU."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCK)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(block), "OUT": str(out),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DEV_START": str(SHIPPED), "DEV_WORK": str(tmp_path / "work"), "DEV_TRAIN": "16",
           "DEV_VAL": "4", "DEV_MINUTES": "0.15", "DEV_IMGSZ": "128", "DEV_BATCH": "4",
           "DEV_DEVICE": "cpu", "DEV_RENDER": "96"}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "device_train_detector.sh"), "run"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["epochs"] >= 1 and figures["val_map50"] is not None
    for name in ("best.pt", "last.pt", "results.csv", "train.log"):
        assert (out / name).stat().st_size > 0
    # DEV_RENDER: the frames are drawn that wide and scaled up to DEV_IMGSZ by the loader.
    import cv2

    frames = sorted((tmp_path / "work").glob("data-*-w96/images/train/*"))
    assert frames and cv2.imread(str(frames[0])).shape[1] == 96
    # The weights come back as a checkpoint the workstation's export reads, with `part` added.
    import torch

    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    assert ckpt["model"].names == {0: "scratch", 1: "crack", 2: "dent", 3: "part"}
