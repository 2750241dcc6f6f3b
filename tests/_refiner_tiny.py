"""A tiny refiner architecture and checkpoint for the refiner tests (seconds on a busy CPU)."""

from __future__ import annotations

from pathlib import Path

from models.train.refiner_model import RefinerArch

TINY = RefinerArch(input_size=64, embed_dim=16, depths=(1, 1, 1, 1), window_size=4,
                   num_queries=4, hidden_dim=32, encoder_layers=1, decoder_layers=1,
                   train_num_points=256)


def tiny_checkpoint(out: Path, epochs: int = 1, crops: int = 4) -> Path:
    """Train ``TINY`` for ``epochs`` on ``crops`` rendered crops; returns its last.pt."""
    from models.train.refiner import RefinerTrainConfig, train_refiner

    cfg = RefinerTrainConfig(arch=TINY, crops=crops, epochs=epochs, batch=2, out=out,
                             name="tiny", threads=1, seed=3)
    return train_refiner(cfg)


def built_checkpoint(path: Path, seed: int = 0, backbone: str = "swin") -> Path:
    """``TINY`` (with this backbone) freshly initialised (no training, no MLflow), saved as a
    refiner checkpoint."""
    import torch

    from models.train.refiner_model import build_model

    torch.manual_seed(seed)
    arch = TINY.model_copy(update={"backbone": backbone})
    model = build_model(arch)
    torch.save({"model": model.state_dict(), "arch": arch.model_dump(mode="json"),
                "config": {"pad": 0.25, "min_side": 24.0}, "epoch": 0}, path)
    return path
