"""The domain-randomised renderer: exact labels, reproducible, and a held-out world that training
never sees (the leave-family-out split the model card's zero-shot figures rest on)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from lineinspect.masks import mask_box
from lineinspect.render.backgrounds import BACKGROUNDS, make_background
from lineinspect.render.clutter import CLUTTER, add_clutter
from lineinspect.render.families import FAMILIES
from lineinspect.render.line import RandomConveyor
from lineinspect.render.randomized import DETECTOR_CLASSES, PART_CLASS_ID, render_still
from lineinspect.render.styles import STYLES
from lineinspect.render.world import (
    ALL_WORLD,
    HELDOUT_BACKGROUNDS,
    HELDOUT_FAMILIES,
    HELDOUT_STYLES,
    HELDOUT_WORLD,
    TRAIN_WORLD,
    World,
    check_disjoint,
)
from models.data.randomized import render_frame, write_randomized


def test_classes_keep_the_defect_ids_and_add_part_last() -> None:
    assert DETECTOR_CLASSES == ("scratch", "crack", "dent", "part")
    assert PART_CLASS_ID == 3


def test_training_world_holds_out_two_families_two_backgrounds_and_a_style() -> None:
    assert len(HELDOUT_FAMILIES) >= 2 and len(HELDOUT_BACKGROUNDS) >= 2 and HELDOUT_STYLES
    check_disjoint(TRAIN_WORLD, HELDOUT_WORLD)
    assert set(HELDOUT_WORLD.families) == set(HELDOUT_FAMILIES)
    assert set(HELDOUT_WORLD.backgrounds) == set(HELDOUT_BACKGROUNDS)
    assert set(HELDOUT_STYLES) <= set(HELDOUT_WORLD.styles)
    with pytest.raises(ValueError, match="held-out"):
        check_disjoint(ALL_WORLD, HELDOUT_WORLD)


def test_unknown_family_is_named() -> None:
    with pytest.raises(ValueError, match="teapot"):
        World(name="x", families=("gear", "teapot"), finishes=("cast",),
              backgrounds=("belt",), styles=("dent-shaded",))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_draws_a_solid_part_inside_its_sprite(family: str) -> None:
    size, r = 200, 80.0
    mask = FAMILIES[family](np.random.default_rng(3), size, r)
    assert mask.shape == (size, size) and mask.dtype == np.uint8
    inside = mask > 127
    area = inside.sum() / (np.pi * r * r)
    assert 0.08 < area < 1.3, f"{family}: area {area:.2f} of the disc"
    assert not inside[0].any() and not inside[-1].any() and not inside[:, 0].any()


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_paints_a_mask_near_its_anchor(style: str) -> None:
    rng = np.random.default_rng(5)
    img = np.full((160, 160, 3), 128.0, np.float32)
    before = img.copy()
    cls, paint = STYLES[style]
    mask = paint(rng, img, img.copy(), np.array([80.0, 80.0]), 1.0)
    assert cls in (0, 1, 2) and mask.any()
    box = mask_box(mask)
    assert box is not None and box[0] < 80 + 60 and box[2] > 80 - 60
    assert np.abs(img - before)[mask].mean() > 3.0, f"{style} left its mask unchanged"


def _render(seed: int, world: World = TRAIN_WORLD) -> tuple[np.ndarray, list]:
    return render_still(np.random.default_rng([seed, 1]), 240, 320, world)


def test_stills_are_reproducible_per_seed() -> None:
    a_img, a_inst = _render(11)
    b_img, b_inst = _render(11)
    c_img, _ = _render(12)
    assert np.array_equal(a_img, b_img) and not np.array_equal(a_img, c_img)
    assert [(c, m.tobytes()) for c, m in a_inst] == [(c, m.tobytes()) for c, m in b_inst]


def test_defect_masks_lie_on_a_visible_part() -> None:
    seen_defects = 0
    for seed in range(12):
        img, inst = _render(seed)
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        parts = np.zeros(img.shape[:2], bool)
        for c, m in inst:
            if c == PART_CLASS_ID:
                parts |= m
        for c, m in inst:
            assert m.any() and m.shape == img.shape[:2]
            if c != PART_CLASS_ID:
                seen_defects += 1
                # Exact labels: the defect is painted on a part, never on the belt.
                assert (m & ~parts).sum() <= 0.02 * m.sum()
    assert seen_defects >= 10


def test_heldout_line_uses_only_heldout_families_and_keeps_defect_ids() -> None:
    scene = RandomConveyor(HELDOUT_WORLD, seed=4, width=320, height=240, fps=10)
    assert scene.background_name in HELDOUT_BACKGROUNDS
    frames = [scene.render_all(i) for i in range(0, 40, 2)]
    assert any(d for _, d, _ in frames) and any(p for _, _, p in frames)
    for pid in {p.part_id for _, _, parts in frames for p in parts}:
        assert scene._sprite(scene._plan(pid)).family in HELDOUT_FAMILIES
    fresh = RandomConveyor(HELDOUT_WORLD, seed=4, width=320, height=240, fps=10)
    img, truth = fresh.render(20)
    assert np.array_equal(img, frames[10][0]) and truth == frames[10][1]
    ids_by_part = {}
    for _, defects, _ in frames:
        for t in defects:
            ids_by_part.setdefault(t.defect_id, set()).add(t.class_id)
    assert all(len(classes) == 1 for classes in ids_by_part.values())


def test_dataset_writer_labels_four_classes_reproducibly(tmp_path: Path) -> None:
    a = write_randomized(tmp_path / "a", {"train": 5, "val": 2}, seed=3, workers=1)
    write_randomized(tmp_path / "b", {"train": 5, "val": 2}, seed=3, workers=1)
    doc = yaml.safe_load(a.read_text())
    assert doc["names"] == dict(enumerate(DETECTOR_CLASSES))
    labels = sorted((tmp_path / "a" / "labels" / "train").glob("*.txt"))
    assert len(labels) == 5
    rows = [line.split() for f in labels for line in f.read_text().splitlines()]
    assert rows and {int(r[0]) for r in rows} <= {0, 1, 2, 3}
    assert any(int(r[0]) == 3 for r in rows)
    assert all(0.0 <= float(v) <= 1.0 for r in rows for v in r[1:])
    for f in labels:
        assert f.read_text() == (tmp_path / "b" / "labels" / "train" / f.name).read_text()
    with pytest.raises(ValueError, match="unknown world"):
        write_randomized(tmp_path / "c", {"train": 1}, seed=0, world="moon")


def test_frames_render_at_the_model_width_asked_for() -> None:
    """A 640-input detector trains on 640-wide frames: the frame, its masks and the share of the
    frame a part covers follow the width asked for."""
    for width in (416, 640):
        for i in range(6):
            img, inst = render_frame(np.random.default_rng([5, 0, i, 7]), "train", width)
            h, w = img.shape[:2]
            assert w == width and round(h * 416 / w) in (312, 234, 416)
            assert all(m.shape == (h, w) for _, m in inst)
            for c, m in inst:
                box = mask_box(m)
                assert box is not None
                if c == PART_CLASS_ID:  # parts span 12-60 % of the frame at every width
                    assert 0.05 * w <= max(box[2] - box[0], box[3] - box[1]) <= 0.8 * w
    with pytest.raises(ValueError, match="width"):
        write_randomized(Path("unused"), {"train": 1}, seed=0, width=20)


def test_external_painter_labels_its_own_defects_on_our_parts(tmp_path: Path) -> None:
    from models.data.external import write_external

    data = write_external(tmp_path / "ext", 6, seed=4, workers=1)
    assert yaml.safe_load(data.read_text())["names"][3] == "part"
    rows = [line.split() for f in (tmp_path / "ext" / "labels" / "test").glob("*.txt")
            for line in f.read_text().splitlines()]
    classes = {int(r[0]) for r in rows}
    assert 3 in classes and classes & {0, 1} and classes <= {0, 1, 3}


@pytest.mark.parametrize("name", sorted(BACKGROUNDS))
def test_every_background_scrolls_seamlessly(name: str) -> None:
    """A conveyor scrolls the tile by ``offset % period``: column ``x`` and ``x + period``
    must be the same picture, or the belt jumps once a period."""
    period, w = 40, 200
    bg = make_background(np.random.default_rng(5), name, 60, w, period)
    assert bg.shape == (60, w + period, 3)
    np.testing.assert_array_equal(bg[:, :w], bg[:, period:period + w])


def test_clutter_draws_distractors_that_are_never_labelled() -> None:
    canvas = np.full((120, 160, 3), 100.0, np.float32)
    kinds = add_clutter(np.random.default_rng(2), canvas, max_items=4)
    assert 1 <= len(kinds) <= 4 and set(kinds) <= set(CLUTTER)
    assert np.abs(canvas - 100.0).max() > 10  # something was drawn
    # Distractors are a training device; the held-out world is scored without them.
    assert HELDOUT_WORLD.p_clutter == 0.0 and TRAIN_WORLD.p_clutter > 0.0
    # With and without clutter, a still's labels are those of its parts alone: same count of
    # parts, and every defect mask inside a part.
    world = replace(TRAIN_WORLD, p_clutter=1.0)
    for seed in range(4):
        _img, inst = render_still(np.random.default_rng([11, seed]), 200, 260, world)
        parts = [m for c, m in inst if c == PART_CLASS_ID]
        assert parts
        every_part = np.logical_or.reduce(parts)
        for c, m in inst:
            if c != PART_CLASS_ID:
                assert (m & every_part).sum() >= 0.9 * m.sum()



def test_design_features_change_only_the_solid_part_and_are_never_labelled() -> None:
    from lineinspect.render.features import add_features

    size, r = 200, 80.0
    painted_any = False
    for seed in range(12):
        alpha8 = FAMILIES["plate"](np.random.default_rng(seed), size, r)
        bgr = np.full((size, size, 3), 120.0, np.float32)
        n = add_features(np.random.default_rng(seed), bgr, alpha8, r)
        changed = np.abs(bgr - 120.0).max(axis=2) > 1.0
        assert not (changed & (alpha8 == 0)).any(), "a feature spilled off the part"
        painted_any |= n > 0 and changed.any()
    assert painted_any
    # Training only: held-out holes must stay a test of what the model learned from these.
    assert TRAIN_WORLD.p_features > 0 and HELDOUT_WORLD.p_features == 0


def test_pattern_backgrounds_vary_along_and_across_travel() -> None:
    """The procedural family must not be one look: over a few draws some tiles change mostly
    along the belt (stripes across travel), others mostly across it (stripes along travel)."""
    along = across = 0
    for seed in range(30):
        tile = BACKGROUNDS["pattern"](np.random.default_rng(seed), 90, 60).mean(axis=2)
        dx = float(np.abs(np.diff(tile, axis=1)).mean())
        dy = float(np.abs(np.diff(tile, axis=0)).mean())
        across += dx > 3 * dy
        along += dy > 3 * dx
    assert across >= 2 and along >= 2
    assert "pattern" in TRAIN_WORLD.backgrounds and "pattern" not in HELDOUT_WORLD.backgrounds
