"""The time-boxed trainer for a lent GPU box, rehearsed on this CPU with tiny sizes.

The box has no polars, pydantic or MLflow: the child process is run with those imports made to
fail, so a dependency creeping into ``models.train.timeboxed`` fails here, not on borrowed
minutes. The GPU itself cannot run here; ``--device cpu`` is the only difference.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.train.detector import TrainConfig
from models.train.timeboxed import AUGMENT, train_kwargs

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "artifacts" / "detector" / "lineinspect-det-v2.pt"

# What the box lacks, blocked in the child before anything else is imported.
BLOCK = """
import sys
for name in ("polars", "pydantic", "mlflow"):
    sys.modules[name] = None
from models.train.timeboxed import main
sys.exit(main(sys.argv[1:]))
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
def test_timeboxed_run_without_the_box_s_missing_packages(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK, "--start", str(SHIPPED), "--out", str(out),
         "--work", str(tmp_path / "work"), "--train", "16", "--val", "4", "--minutes", "0.15",
         "--imgsz", "128", "--batch", "4", "--device", "cpu"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["epochs"] >= 1 and figures["val_map50"] is not None
    for name in ("best.pt", "last.pt", "results.csv"):
        assert (out / name).stat().st_size > 0
    # The weights come back as a checkpoint the workstation's export reads.
    import torch

    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    assert ckpt["model"].names == {0: "scratch", 1: "crack", 2: "dent", 3: "part"}
