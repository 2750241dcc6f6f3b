"""The weights committed to continue training (models/checkpoints/) load into the networks their
continue commands build: a session that starts from them must not find a file it cannot use."""

from __future__ import annotations

from pathlib import Path

import torch

from models.train.refiner import warm_startable
from models.train.refiner_model import RefinerArch, build_model

CHECKPOINTS = Path(__file__).resolve().parents[1] / "models" / "checkpoints"


def test_refiner_wip_warm_starts_a_resnet_refiner() -> None:
    state = torch.load(CHECKPOINTS / "lineinspect-refiner-v2-wip.pt", map_location="cpu",
                       weights_only=False)
    arch = RefinerArch.model_validate(state["arch"])
    # what `train-refiner --backbone resnet` (defaults otherwise) builds, so --init accepts it
    assert arch == RefinerArch(input_size=160, backbone="resnet")
    model = build_model(arch)
    model.load_state_dict(state["model"])  # strict: every tensor present, every shape right
    with torch.no_grad():
        out = model(pixel_values=torch.zeros(1, 3, 160, 160))
    assert out.masks_queries_logits.shape == (1, arch.num_queries, 40, 40)


def test_refiner_wip_continues_at_a_larger_crop_but_not_another_model() -> None:
    state = torch.load(CHECKPOINTS / "lineinspect-refiner-v2-wip.pt", map_location="cpu",
                       weights_only=False)
    saved = RefinerArch.model_validate(state["arch"])
    bigger = RefinerArch(input_size=224, backbone="resnet")
    assert warm_startable(saved, bigger)
    model = build_model(bigger)
    model.load_state_dict(state["model"])
    with torch.no_grad():
        out = model(pixel_values=torch.zeros(1, 3, 224, 224))
    assert out.masks_queries_logits.shape == (1, bigger.num_queries, 56, 56)
    assert not warm_startable(saved, RefinerArch(input_size=224, backbone="swin"))
    assert not warm_startable(saved, RefinerArch(backbone="resnet", num_queries=20))


def test_detector_wip_is_a_four_class_960_checkpoint() -> None:
    ckpt = torch.load(CHECKPOINTS / "lineinspect-det-v3-wip.pt", map_location="cpu",
                      weights_only=False)
    assert ckpt["optimizer"] is None  # stripped: the file is weights only
    assert ckpt["train_args"]["imgsz"] == 960  # stage H: the continue command says 960
    assert list(ckpt["model"].names.values()) == ["scratch", "crack", "dent", "part"]
