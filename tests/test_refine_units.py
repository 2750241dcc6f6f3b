"""The refinement stage's pure parts, table by table: measurements of a mask, which detections
are refined, the severity of a size, the newest-first queue, and the settings' checks."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from edge.detect.types import Detections
from edge.refine.flagging import Flagger, TrackInfo, better_view, severity_from_size, wanted
from edge.refine.measure import Calibration, Measurement, homography_area, measure
from edge.refine.queue import NewestFirstQueue, RefineJob
from edge.refine.settings import BetterView, RefineSettings, SizeRule, SizeThresholds
from edge.refine.worker import pasted_rle
from edge.settings import load_edge_settings
from lineinspect.config import ConfigError
from lineinspect.contract import Uuid7Generator
from lineinspect.contract.examples import event_like
from lineinspect.crops import Pasted, Window
from lineinspect.masks import rle_encode

# -- measure -------------------------------------------------------------------------------


def rect(h: int, w: int, x0: int = 0, y0: int = 0) -> Pasted:
    return Pasted(x0, y0, np.ones((h, w), bool))


def rotated(length: float, width: float, angle_deg: float, size: int = 80) -> Pasted:
    box = cv2.boxPoints(((size / 2, size / 2), (length, width), angle_deg))
    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [np.round(box).astype(np.int32)], 1)
    return Pasted(0, 0, m.astype(bool))


@pytest.mark.parametrize(("pasted", "cal", "want"), [
    # a 1 px wide straight scratch of 10 px is 10 x 1, not 9 x 0 (pixel extents, not centres)
    (rect(1, 10), None, Measurement(10, 10.0, 1.0)),
    (rect(5, 20, 100, 50), None, Measurement(100, 20.0, 5.0)),
    (rect(20, 5), None, Measurement(100, 20.0, 5.0)),  # the long side is the length
    (rect(4, 8), Calibration(mm_per_px=0.5), Measurement(32, 8.0, 4.0, 8.0, 4.0, 2.0)),
    # a top-down homography of 0.5 mm/px measures what mm_per_px 0.5 does
    (rect(4, 8, 30, 40), Calibration(homography=np.diag([0.5, 0.5, 1.0])),
     Measurement(32, 8.0, 4.0, 8.0, 4.0, 2.0)),
    (Pasted(0, 0, np.zeros((5, 5), bool)), Calibration(mm_per_px=1.0), Measurement(0, 0.0, 0.0)),
])  # fmt: skip
def test_measure_table(pasted: Pasted, cal: Calibration | None, want: Measurement) -> None:
    got = measure(pasted, cal)
    assert got.area_px == want.area_px
    for name in ("length_px", "width_px", "area_mm2", "length_mm", "width_mm"):
        g, w = getattr(got, name), getattr(want, name)
        assert (g is None) == (w is None), name
        if w is not None:
            assert g == pytest.approx(w, abs=1e-4), name


@pytest.mark.parametrize("angle", [0.0, 17.0, 30.0, 45.0, 80.0])
def test_rotated_bar_measures_its_sides(angle: float) -> None:
    # fillPoly draws the boundary pixels too (+1 px), and pixel corners of a slanted edge
    # reach up to ~0.7 px past it: a few px of slack, never a wrong side.
    got = measure(rotated(50.0, 8.0, angle))
    assert got.length_px == pytest.approx(50.0, abs=3.5)
    assert got.width_px == pytest.approx(8.0, abs=3.0)


def test_homography_area_matches_the_mapped_polygon_on_a_large_region() -> None:
    # A camera at an angle: rows further down are nearer (bigger scale).
    h = np.array([[0.2, 0.01, 3.0], [0.0, 0.25, -1.0], [0.0, 0.0004, 1.0]])
    p = rect(120, 160, 200, 100)
    corners = np.array([[200, 100], [360, 100], [360, 220], [200, 220]], np.float64) - 0.5
    plane = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), h).reshape(-1, 2)
    polygon = abs(cv2.contourArea(plane.astype(np.float32)))
    assert homography_area(p, h) == pytest.approx(polygon, rel=0.01)
    m = measure(p, Calibration(homography=h))
    assert m.area_mm2 == pytest.approx(polygon, rel=0.01)
    assert m.length_mm is not None and m.width_mm is not None and m.length_mm > m.width_mm


@pytest.mark.parametrize(("x0", "y0", "shape"), [
    (0, 0, (5, 7)), (10, 3, (4, 4)), (56, 40, (8, 8)), (0, 40, (8, 3)), (60, 0, (2, 4)),
])  # fmt: skip
def test_pasted_rle_equals_the_whole_frame_encoding(x0: int, y0: int,
                                                    shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(x0 + y0)
    for fill in (rng.random(shape) > 0.5, np.ones(shape, bool), np.zeros(shape, bool)):
        p = Pasted(x0, y0, fill)
        assert pasted_rle(p, 64, 48) == rle_encode(p.full(64, 48))


# -- flagging ------------------------------------------------------------------------------

ZONED = RefineSettings(zones=["face"], min_score=0.5)


@pytest.mark.parametrize(("cls", "zone", "score", "settings", "want"), [
    ("scratch", None, 0.9, RefineSettings(), True),
    ("scratch", None, 0.4, RefineSettings(), False),  # below min_score
    ("scratch", None, 0.5, RefineSettings(), True),  # at min_score
    ("part", None, 0.9, RefineSettings(), False),  # not a flagged class
    ("pit", None, 0.9, RefineSettings(classes=["pit"]), True),
    ("scratch", "face", 0.9, ZONED, True),
    ("scratch", "rim", 0.9, ZONED, False),
    ("scratch", None, 0.9, ZONED, False),  # zones set: outside every zone is not refined
])  # fmt: skip
def test_wanted_table(cls: str, zone: str | None, score: float, settings: RefineSettings,
                      want: bool) -> None:
    assert wanted(cls, zone, score, settings) is want


def info(refined: int, score: float = 0.6, area: float = 100.0) -> TrackInfo:
    return TrackInfo("d", "scratch", 0, None, 0.6, refined, score, area)


BV = BetterView(score_margin=0.1, area_factor=1.5, max_per_track=3)


@pytest.mark.parametrize(("score", "area", "track", "want"), [
    (0.6, 100.0, info(0), True),  # first look
    (0.65, 120.0, info(1), False),  # a bit better is not clearly better
    (0.70, 100.0, info(1), True),  # score + margin
    (0.60, 150.0, info(1), True),  # area x factor
    (0.99, 999.0, info(3), False),  # per-track cap
])  # fmt: skip
def test_better_view_table(score: float, area: float, track: TrackInfo, want: bool) -> None:
    assert better_view(score, area, track, BV) is want


RULES = {"scratch": SizeRule(length_mm=SizeThresholds(medium=5, high=15),
                             length_px=SizeThresholds(medium=25, high=75)),
         "dent": SizeRule(area_px=SizeThresholds(medium=100, high=400))}


def px(area: int, length: float) -> Measurement:
    return Measurement(area, length, 1.0)


def mm(area: int, length: float, length_mm: float) -> Measurement:
    return Measurement(area, length, 1.0, area * 0.04, length_mm, 0.2)


@pytest.mark.parametrize(("cls", "m", "want"), [
    ("scratch", px(10, 10.0), "low"),
    ("scratch", px(30, 30.0), "medium"),
    ("scratch", px(80, 80.0), "high"),
    ("scratch", mm(30, 30.0, 4.0), "low"),  # calibrated: the mm rule, not the px one
    ("scratch", mm(30, 30.0, 15.0), "high"),
    ("dent", mm(150, 12.0, 2.4), "medium"),  # calibrated, but only px thresholds: those apply
    ("dent", px(99, 12.0), "low"),
    ("crack", px(1000, 100.0), "medium"),  # no rule: the fallback level
])  # fmt: skip
def test_severity_from_size_table(cls: str, m: Measurement, want: str) -> None:
    assert severity_from_size(cls, m, RULES, fallback="medium") == want


def dets(*rows: tuple[float, float, float, float, float]) -> Detections:
    a = np.array(rows, np.float32).reshape(-1, 5)
    return Detections(a[:, :4], a[:, 4], np.zeros(len(rows), np.int32))


def test_flagger_refines_announced_tracks_once_unless_clearly_better() -> None:
    ids = Uuid7Generator()
    f = Flagger(RefineSettings(min_score=0.5))
    d = dets((10, 10, 30, 20, 0.8), (50, 50, 60, 60, 0.9))
    tracks = np.array([1, 2], np.int64)
    assert f.select(d, tracks) == []  # nothing announced yet
    new = event_like(ids, kind="new", track_id=1, class_name="scratch")
    f.observe([new])
    (got,) = f.select(d, tracks)
    assert got[0] == 0 and got[1].defect_id == new.event_id
    assert f.select(d, tracks) == []  # same view again: not refined twice
    better = dets((10, 10, 30, 20, 0.99), (50, 50, 60, 60, 0.9))  # +0.19 > margin 0.15
    assert [i for i, _ in f.select(better, tracks)] == [0]
    f.observe([event_like(ids, kind="end", track_id=1, defect_id=new.event_id)])
    assert f.tracks == 0 and f.select(better, tracks) == []


def test_flagger_caps_crops_per_frame() -> None:
    ids = Uuid7Generator()
    f = Flagger(RefineSettings(min_score=0.0, max_per_frame=3))
    f.observe([event_like(ids, kind="new", track_id=t) for t in range(1, 11)])
    d = dets(*[(i * 20, 0, i * 20 + 10, 10, 0.9) for i in range(10)])
    assert len(f.select(d, np.arange(1, 11, dtype=np.int64))) == 3


# -- queue ---------------------------------------------------------------------------------


def job(n: int) -> RefineJob:
    return RefineJob(camera=None,  # type: ignore[arg-type]  # the queue never looks at it
                     crop=np.zeros((2, 2, 3), np.uint8), window=Window(0, 0, 2),
                     frame_size=(8, 8), box=(0, 0, 1, 1), track_id=n, defect_id="d",
                     class_name="scratch", class_id=0, zone=None, confidence=0.9,
                     frame_seq=n, ts=0.0, index_in_frame=0)


def test_queue_takes_newest_first_and_drops_oldest_counted() -> None:
    dropped: list[int] = []
    q = NewestFirstQueue(3, on_drop=lambda j: dropped.append(j.track_id))
    for n in range(5):
        assert q.push(job(n))
    assert dropped == [0, 1] and q.dropped == 2 and len(q) == 3 and q.high_water == 3
    got = [q.take(0) for _ in range(3)]
    assert [j.track_id for j in got if j is not None] == [4, 3, 2]
    assert q.take(0.01) is None


def test_queue_close_drains_then_refuses() -> None:
    q = NewestFirstQueue(4)
    q.push(job(1))
    q.close()
    assert not q.push(job(2))
    j = q.take(1.0)
    assert j is not None and j.track_id == 1
    assert q.take(None) is None  # closed and empty: no wait


def test_queue_is_thread_safe_and_accounts_for_every_job() -> None:
    q = NewestFirstQueue(8)
    taken: list[int] = []
    stop = threading.Event()

    def consume() -> None:
        while not (stop.is_set() and len(q) == 0):
            j = q.take(0.01)
            if j is not None:
                taken.append(j.track_id)

    consumers = [threading.Thread(target=consume) for _ in range(2)]
    for c in consumers:
        c.start()
    producers = [threading.Thread(target=lambda b=b: [q.push(job(b + i)) for i in range(2000)])
                 for b in (0, 10_000, 20_000)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    stop.set()
    for c in consumers:
        c.join()
    assert q.pushed == 6000
    assert len(taken) + q.dropped == 6000 and len(set(taken)) == len(taken)
    assert q.high_water <= 8


# -- settings ------------------------------------------------------------------------------

MINIMAL: dict[str, Any] = {"site": "p", "line": "l", "station": "s",
                           "cameras": [{"id": "cam1", "source": {"kind": "synthetic"}}]}


def errors(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as exc:
        load_edge_settings(path, {})
    return str(exc.value)


def cam(**extra: Any) -> dict[str, Any]:
    return {**MINIMAL, "cameras": [{**MINIMAL["cameras"][0], **extra}]}


@pytest.mark.parametrize(("data", "needle"), [
    (cam(homography=[[1, 2, 3], [2, 4, 6], [0, 0, 1]]), "cameras.0.homography"),  # det 0
    (cam(homography=[[1, 0], [0, 1]]), "3 rows of 3"),
    (cam(homography=[[1, 0, 0], [0, 1, 0], [0, 0, math.inf]]), "finite"),
    ({**MINIMAL, "refine": {"zones": ["nowhere"]}}, "refine.zones.0: no zone named 'nowhere'"),
    ({**MINIMAL, "refine": {"queue_size": 0}}, "refine.queue_size"),
    ({**MINIMAL, "refine": {"colour": "red"}}, "refine.colour"),
    ({**MINIMAL, "refine": {"severity": {"dent": {"area_px": {"medium": 9, "high": 3}}}}},
     "refine.severity.dent.area_px"),
    ({**MINIMAL, "refine": {"enabled": True, "model_path": "/nonexistent/r.onnx"}},
     "refine.model_path"),
])  # fmt: skip
def test_config_errors_name_the_field(tmp_path: Path, data: dict[str, Any], needle: str) -> None:
    assert needle in errors(tmp_path, data)


def test_refine_is_off_by_default_and_a_valid_homography_loads(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cam(homography=[[0.2, 0, 0], [0, 0.2, 0], [0, 0.0001, 1]])))
    s = load_edge_settings(path, {})
    assert s.refine.enabled is False and s.refine.classes == ["scratch", "crack", "dent"]
    assert s.cameras[0].homography is not None


def test_the_refine_example_config_loads_with_refinement_on() -> None:
    example = Path(__file__).resolve().parents[1] / "deploy/config/edge.refine.example.yaml"
    s = load_edge_settings(example, {})
    assert s.refine.enabled and s.refine.severity["dent"].area_mm2.high == 16
    assert s.cameras[0].mm_per_px == 0.2 and s.cameras[1].homography is not None
