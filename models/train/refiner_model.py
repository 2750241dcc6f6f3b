"""The refiner network: a small Mask2Former (Swin or ResNet backbone), built from config, no
pretrained weights, and the graph wrapper that takes the edge's crops as they are.

:class:`RefinerGraph` is what is exported: its input is the uint8 BGR crop batch
``(B, S, S, 3)`` exactly as :func:`lineinspect.crops.crop_image` makes it, and it does the
layout change, BGR→RGB and normalisation itself, so the edge feeds its crop buffer straight in
(no per-frame float conversion in numpy) and training, export and runtime cannot disagree on the
normalisation. Outputs: class logits ``(B, Q, num_labels + 1)`` (last = no object) and mask
logits ``(B, Q, S/4, S/4)``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from lineinspect.classes import DEFECT_CLASSES

# ImageNet statistics, as Mask2Former's image processor uses; recorded in the manifest.
MEAN_RGB = (0.485, 0.456, 0.406)
STD_RGB = (0.229, 0.224, 0.225)


class RefinerArch(BaseModel):
    """Architecture hyper-parameters; stored in every checkpoint so it rebuilds itself."""

    model_config = ConfigDict(extra="forbid")

    input_size: int = Field(160, ge=32, multiple_of=32)
    # swin: the backbone v1 shipped with. resnet: basic residual blocks (channels embed_dim x
    # 1, 2, 4, 8); convolutions see each pixel's neighbours from the first layer, which a
    # from-scratch backbone on a few thousand crops learns faster than patch attention.
    backbone: Literal["swin", "resnet"] = "swin"
    embed_dim: int = Field(32, ge=8)
    depths: tuple[int, ...] = (1, 1, 2, 1)
    num_heads: tuple[int, ...] = (1, 2, 4, 8)
    window_size: int = Field(5, ge=2)
    num_queries: int = Field(10, ge=1)
    hidden_dim: int = Field(64, ge=16)
    encoder_layers: int = Field(2, ge=1)
    decoder_layers: int = Field(3, ge=1)
    train_num_points: int = Field(4096, ge=64)
    class_names: tuple[str, ...] = DEFECT_CLASSES


def build_model(arch: RefinerArch) -> Any:
    """A freshly initialised ``Mask2FormerForUniversalSegmentation`` (nothing downloaded)."""
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation

    kw: dict[str, Any] = {
        "backbone_config": _backbone_config(arch), "num_labels": len(arch.class_names),
        "num_queries": arch.num_queries, "hidden_dim": arch.hidden_dim,
        "mask_feature_size": arch.hidden_dim, "feature_size": arch.hidden_dim,
        "encoder_layers": arch.encoder_layers, "decoder_layers": arch.decoder_layers,
        "dim_feedforward": 4 * arch.hidden_dim, "encoder_feedforward_dim": 4 * arch.hidden_dim,
        "num_attention_heads": 4, "train_num_points": arch.train_num_points,
        "id2label": dict(enumerate(arch.class_names)),
        "label2id": {n: i for i, n in enumerate(arch.class_names)}}
    cfg = Mask2FormerConfig(**kw)
    return Mask2FormerForUniversalSegmentation(cfg)


def _backbone_config(arch: RefinerArch) -> Any:
    from transformers import ResNetConfig, SwinConfig

    # Plain dicts: transformers 5's typed config signatures do not list the inherited kwargs
    # (out_features, num_labels, id2label) that these configs still take.
    stages = [f"stage{i + 1}" for i in range(len(arch.depths))]
    if arch.backbone == "resnet":
        res_kw: dict[str, Any] = {
            "embedding_size": arch.embed_dim, "depths": list(arch.depths),
            "hidden_sizes": [arch.embed_dim * 2 ** i for i in range(len(arch.depths))],
            "layer_type": "basic", "out_features": stages}
        return ResNetConfig(**res_kw)
    swin_kw: dict[str, Any] = {
        "embed_dim": arch.embed_dim, "depths": list(arch.depths),
        "num_heads": list(arch.num_heads), "window_size": arch.window_size,
        "image_size": arch.input_size, "out_features": stages}
    return SwinConfig(**swin_kw)


def pixel_values(crops: torch.Tensor) -> torch.Tensor:
    """uint8 BGR ``(B, S, S, 3)`` → normalised float RGB ``(B, 3, S, S)``."""
    x = crops.permute(0, 3, 1, 2).flip(1).to(torch.float32) / 255.0
    mean = torch.tensor(MEAN_RGB, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD_RGB, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean) / std


class RefinerGraph(torch.nn.Module):
    """uint8 crops in, (class logits, mask logits) out: the exported graph."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(pixel_values=pixel_values(crops))
        return out.class_queries_logits, out.masks_queries_logits


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
