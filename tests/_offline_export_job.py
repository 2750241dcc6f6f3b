"""Child process of tests/test_export_offline.py: synth → train 1 epoch → CLI export, offline.

Run with the working folder as argument and as cwd; the parent points every proxy variable at a
closed local port, so any network attempt fails at once instead of hanging.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(work: Path) -> int:
    from models.train.offline import prepare_offline

    prepare_offline(work / ".yolo")  # the same folder ExportConfig's default resolves to here
    from models.data.synth import write_dataset
    from models.export.cli import add_export_parsers
    from models.train.detector import TrainConfig, train_detector

    t0 = time.monotonic()
    data = write_dataset(work / "ds", {"train": 16, "val": 4}, seed=5, size=96, workers=1)
    best = train_detector(
        TrainConfig(data=data, epochs=1, imgsz=96, batch=8, workers=0, project=work / "runs",
                    name="tiny", cache="none", tracking_uri=f"sqlite:///{work / 'mlflow.db'}"),
        workdir=work)
    t1 = time.monotonic()
    parser = argparse.ArgumentParser()
    add_export_parsers(parser.add_subparsers())
    args = parser.parse_args([
        "export", "--weights", str(best), "--out", str(work / "out"), "--imgsz", "96",
        "--dynamic", "--half", "--int8", "--calib-count", "4", "--name", "tiny",
        "--version", "0.1"])
    rc = int(args.handler(args))
    t2 = time.monotonic()
    print(json.dumps({"best": str(best), "train_s": t1 - t0, "export_s": t2 - t1}))
    return rc


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
