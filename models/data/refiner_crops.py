"""Crops for the mask refiner: one square crop per defect instance, with every defect in it.

Each defect instance (classes 0-2; parts are skipped) of a rendered frame at the detector's input
size (:func:`models.data.randomized.render_frame`) gives one sample: its tight box *jittered* the
way a detector's box is off (edges moved by a few % to ~15 % of the box side, at least a pixel),
so the refiner never learns to rely on a perfect box; the window is
:func:`lineinspect.crops.crop_window` of that box with the edge's pad and min side, and the image
and masks are cut with :func:`~lineinspect.crops.crop_image` / :func:`~lineinspect.crops.crop_mask`
— the very functions the edge crops with at run time.

Targets are instance masks (Mask2Former is instance segmentation): the crop's own instance
first, then any other defect that shows in the window, each with its class. A mask is the crop
coverage thresholded at 0.5; a scratch thinner than half a crop pixel would vanish at 0.5, so an
instance whose thresholded mask is empty keeps the pixels of at least half its peak coverage
(its centre line) instead of being dropped: the model is still told where it is.

Everything is deterministic by seed: frame ``i`` of a set is rendered from its own generator
``(seed, i)``. Samples live in memory (a few thousand crops of 128-192 px are tens of MB).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lineinspect.crops import (
    DEFAULT_MIN_SIDE,
    DEFAULT_PAD,
    Window,
    crop_image,
    crop_mask,
    crop_window,
)
from lineinspect.masks import mask_box
from lineinspect.render.randomized import PART_CLASS_ID, Instance
from models.data.randomized import DEFAULT_WIDTH, render_frame

Box = tuple[float, float, float, float]
MIN_JITTER = 0.02
MAX_JITTER = 0.15
_STREAM = 11  # keeps these generators apart from the detector datasets' (seed, split, i, 7)


@dataclass(frozen=True)
class CropSample:
    """One training/eval crop: the image, its instance masks (own instance first) and where it
    came from in the frame (for pasting back and scoring in frame pixels)."""

    image: npt.NDArray[np.uint8]  # (S, S, 3) BGR
    masks: npt.NDArray[np.bool_]  # (N, S, S), N >= 1, masks[0] is the crop's own instance
    classes: npt.NDArray[np.int64]  # (N,) class ids 0-2
    window: Window
    box: Box  # the jittered box the window was made from
    truth_box: Box  # the instance's tight box
    frame_mask: npt.NDArray[np.bool_] | None = None  # the instance in frame pixels (eval only)


def jitter_box(rng: np.random.Generator, box: Box, max_jitter: float = MAX_JITTER) -> Box:
    """``box`` with each edge moved by up to ``j`` of the box's side on that axis (at least a
    pixel), ``j`` drawn per box in [2 %, ``max_jitter``]: a detector's box, not the truth."""
    x1, y1, x2, y2 = box
    j = rng.uniform(min(MIN_JITTER, max_jitter), max_jitter)
    dx, dy = max(j * (x2 - x1), 1.0), max(j * (y2 - y1), 1.0)
    e = rng.uniform(-1.0, 1.0, size=4)
    nx1, nx2 = x1 + e[0] * dx, x2 + e[1] * dx
    ny1, ny2 = y1 + e[2] * dy, y2 + e[3] * dy
    # A box never collapses: keep at least one pixel on each axis.
    if nx2 - nx1 < 1.0:
        cx = (nx1 + nx2) / 2.0
        nx1, nx2 = cx - 0.5, cx + 0.5
    if ny2 - ny1 < 1.0:
        cy = (ny1 + ny2) / 2.0
        ny1, ny2 = cy - 0.5, cy + 0.5
    return (float(nx1), float(ny1), float(nx2), float(ny2))


def target_mask(mask: npt.NDArray[np.bool_], win: Window, size: int) -> npt.NDArray[np.bool_]:
    """The crop target of one frame mask: coverage >= 0.5, or its centre line when that is
    empty (see the module docstring); all False when the mask is not in the window."""
    cover = crop_mask(mask, win, size)
    binary = cover >= 0.5
    if binary.any():
        return binary
    peak = float(cover.max())
    if peak <= 0.05:
        return binary
    return cover >= 0.5 * peak


def crops_of_frame(rng: np.random.Generator, image: npt.NDArray[np.uint8],
                   instances: list[Instance], size: int, pad: float = DEFAULT_PAD,
                   min_side: float = DEFAULT_MIN_SIDE, max_jitter: float = MAX_JITTER,
                   keep_frame_mask: bool = False) -> Iterator[CropSample]:
    """One sample per defect instance of a frame (see the module docstring)."""
    defects = [(c, m) for c, m in instances if c != PART_CLASS_ID]
    for k, (cls, mask) in enumerate(defects):
        tight = mask_box(mask)
        if tight is None:
            continue
        truth: Box = (float(tight[0]), float(tight[1]), float(tight[2]), float(tight[3]))
        box = jitter_box(rng, truth, max_jitter) if max_jitter > 0 else truth
        win = crop_window(box, pad, min_side)
        own = target_mask(mask, win, size)
        if not own.any():
            continue
        masks, classes = [own], [cls]
        for j, (other_cls, other) in enumerate(defects):
            if j == k:
                continue
            t = target_mask(other, win, size)
            if t.any():
                masks.append(t)
                classes.append(other_cls)
        yield CropSample(crop_image(image, win, size), np.stack(masks),
                         np.asarray(classes, dtype=np.int64), win, box, truth,
                         mask if keep_frame_mask else None)


def make_crops(count: int, seed: int, size: int, world: str = "train", pad: float = DEFAULT_PAD,
               min_side: float = DEFAULT_MIN_SIDE, max_jitter: float = MAX_JITTER,
               keep_frame_mask: bool = False,
               widths: tuple[int, ...] = (DEFAULT_WIDTH,)) -> list[CropSample]:
    """``count`` crops from frames ``(seed, 0), (seed, 1), …`` of ``world``, in order; frame
    ``i`` is ``widths[i % len(widths)]`` pixels wide (several widths: defects at several pixel
    scales, as cameras of different resolution see them)."""
    out: list[CropSample] = []
    index = 0
    while len(out) < count:
        rng = np.random.default_rng([seed, index, _STREAM])
        image, instances = render_frame(rng, world, widths[index % len(widths)])
        out.extend(crops_of_frame(rng, image, instances, size, pad, min_side, max_jitter,
                                  keep_frame_mask))
        index += 1
    return out[:count]
