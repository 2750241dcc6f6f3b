"""Rendering ranges for the synthetic defect data.

Training uses :data:`TRAIN`; the out-of-distribution check renders with ranges outside it
(:data:`OOD_LIGHTING`, :data:`OOD_SIZE`) so the model card can report how the detector copes with
lighting and part sizes it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lineinspect.classes import DEFECT_CLASSES

CLASS_NAMES: tuple[str, ...] = DEFECT_CLASSES


@dataclass(frozen=True)
class RenderParams:
    """Ranges sampled uniformly per image. Sizes are fractions of ``min(H, W)``."""

    part_radius: tuple[float, float] = (0.22, 0.42)
    light_gain: tuple[float, float] = (0.75, 1.25)
    metal_gray: tuple[float, float] = (95.0, 170.0)
    belt_gray: tuple[float, float] = (35.0, 85.0)
    noise_sigma: tuple[float, float] = (1.0, 6.0)
    p_blur: float = 0.35
    p_two_parts: float = 0.3
    p_no_defect: float = 0.35
    max_defects: int = 4
    max_rotation_deg: float = 180.0
    jpeg_quality: tuple[int, int] = (82, 96)


TRAIN = RenderParams()
# Lighting well outside the training gain range (dim station, over-lit station).
OOD_LIGHTING = replace(TRAIN, light_gain=(0.45, 0.6))
OOD_LIGHTING_BRIGHT = replace(TRAIN, light_gain=(1.4, 1.6))
# Parts smaller and larger than any seen in training (camera further away / closer).
OOD_SIZE = replace(TRAIN, part_radius=(0.15, 0.2))

PRESETS: dict[str, RenderParams] = {
    "train": TRAIN,
    "ood-dark": OOD_LIGHTING,
    "ood-bright": OOD_LIGHTING_BRIGHT,
    "ood-small": OOD_SIZE,
}
