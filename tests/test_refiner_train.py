"""``train-refiner``: a tiny run interrupted in epoch 2 has checkpointed epoch 1; the same
command again resumes at epoch 2 in the same MLflow run; a finished run is not trained again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from models.train import refiner
from models.train.refiner import LAST, RefinerTrainConfig, load_refiner, train_refiner
from models.train.tracking import RUN_ID_FILE
from tests._refiner_tiny import TINY


def test_interrupted_run_resumes_from_its_last_epoch(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = RefinerTrainConfig(arch=TINY, crops=4, epochs=2, batch=2, out=tmp_path, name="tiny",
                             threads=1, seed=3)
    real, calls = refiner._train_epoch, []

    def interrupted(*args: Any) -> float:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the machine went away during epoch 2
        return real(*args)

    monkeypatch.setattr(refiner, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_refiner(cfg)
    last = tmp_path / "tiny" / LAST
    first = torch.load(last, weights_only=False)
    run_id = (last.parent / RUN_ID_FILE).read_text()
    assert first["epoch"] == 1
    monkeypatch.setattr(refiner, "_train_epoch", real)
    train_refiner(cfg)  # the same command again: epoch 2 only
    second = torch.load(last, weights_only=False)
    assert second["epoch"] == 2 and (last.parent / RUN_ID_FILE).read_text() == run_id
    changed = any(not torch.equal(second["model"][k], v) for k, v in first["model"].items())
    assert changed
    mtime = last.stat().st_mtime_ns
    train_refiner(cfg)  # finished: nothing more to do
    assert last.stat().st_mtime_ns == mtime
    model, arch, _ = load_refiner(last)
    assert arch == TINY and not model.training


def _refiner_args(*extra: str) -> Any:
    import argparse

    from models.refiner_cli import add_refiner_parsers

    parser = argparse.ArgumentParser()
    add_refiner_parsers(parser.add_subparsers())
    return parser.parse_args(["train-refiner", "--backbone", "resnet", *extra])


def test_train_refiner_builds_a_wider_model_from_its_flags() -> None:
    """A bigger refiner (the lever once a recipe flattens) is chosen on the command line; flags
    left out keep the architecture the committed checkpoints were built with."""
    from models.refiner_cli import train_config
    from models.train.refiner_model import RefinerArch

    wide = train_config(_refiner_args("--queries", "16", "--hidden", "96", "--embed-dim", "48",
                                      "--depths", "1", "2", "2", "1")).arch
    assert (wide.num_queries, wide.hidden_dim, wide.embed_dim, wide.depths) == (16, 96, 48,
                                                                                (1, 2, 2, 1))
    assert train_config(_refiner_args()).arch == RefinerArch(backbone="resnet")
    with pytest.raises(ValueError, match="hidden_dim"):
        train_config(_refiner_args("--hidden", "8"))
