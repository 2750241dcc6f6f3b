"""/predict?model=detector|refiner|both and ``lineinspect predict --model``: the refiner's masks
on uploads, the ``file``/``files`` form fields, 503 without a refiner.

The pure helpers (measurements, drawing, view names) are checked against ``FakeRefiner``, an
in-memory stand-in whose mask is known exactly. Everything that goes over HTTP or through the
CLI uses the real shipped detector and the real shipped refiner on a rendered conveyor frame.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from edge.api.deps import PredictRefiner
from edge.api.refined import (
    canonical_model,
    draw_masks,
    refinable,
    refine_box,
)
from edge.api.settings import ApiSettings
from edge.detect.detector import Detector
from edge.stream.annotate import class_colour
from lineinspect.crops import Pasted
from tests._edge_app import AppParts, build_app, encode, known_answer_detector, running


@dataclass(frozen=True)
class FakeMask:
    prob: np.ndarray
    class_name: str
    score: float


class FakeRefiner:
    """A fake refiner, for the pure helpers only: its mask is the crop's central square that
    the box occupies (the crop window adds ``pad`` on each side), probability 0.9."""

    input_size = 64
    pad = 0.25
    min_side = 24.0
    mask_threshold = 0.5
    class_names = ("scratch", "crack", "dent")

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], str | None]] = []

    def refine(self, crop: np.ndarray, class_name: str | None = None) -> FakeMask | None:
        self.calls.append((crop.shape, class_name))
        s = self.input_size
        inner = round(s / (1 + 2 * self.pad))
        lo = (s - inner) // 2
        prob = np.zeros((s, s), np.float32)
        prob[lo:lo + inner, lo:lo + inner] = 0.9
        return FakeMask(prob, class_name or "scratch", 0.8)


# ---- pure helpers (fake refiner) -----------------------------------------------------------


def test_view_names_and_their_aliases() -> None:
    assert [canonical_model(n) for n in ("detector", "yolo", "refiner", "both",
                                          "mask2former")] == [
        "detector", "detector", "refiner", "both", "both"]
    with pytest.raises(ValueError, match="unknown model 'segformer'; use one of detector"):
        canonical_model("segformer")


def test_part_is_never_refined_nor_classes_the_refiner_does_not_know() -> None:
    fake = FakeRefiner()
    assert refinable("scratch", fake) and refinable("dent", fake)
    assert not refinable("part", fake) and not refinable("weld", fake)
    fake.class_names = (*fake.class_names, "part")  # even if a model claimed it
    assert not refinable("part", fake)


def test_refine_box_crops_the_trained_view_and_pastes_back_in_image_pixels() -> None:
    fake = FakeRefiner()
    image = np.full((200, 300, 3), 90, np.uint8)
    got = refine_box(image, (100.0, 50.0, 140.0, 90.0), "crack", fake)
    assert got is not None and fake.calls == [((64, 64, 3), "crack")]
    full = got.pasted.full(300, 200)
    ys, xs = np.nonzero(full)
    assert abs(xs.min() - 100) <= 1 and abs(xs.max() - 139) <= 1
    assert abs(ys.min() - 50) <= 1 and abs(ys.max() - 89) <= 1
    assert got.area_px == int(full.sum()) and got.score == 0.8
    assert abs(got.length_px - 40) <= 2 and abs(got.width_px - 40) <= 2
    assert refine_box(image, (5.0, 5.0, 5.0, 9.0), "crack", fake) is None  # empty box


def test_masks_are_drawn_translucent_with_an_outline_inside_their_region() -> None:
    canvas = np.full((100, 100, 3), 100, np.uint8)
    mask = np.zeros((30, 30), bool)
    mask[5:25, 5:25] = True
    colour = class_colour(1)
    draw_masks(canvas, [(Pasted(40, 40, mask), colour)])
    changed = (canvas != 100).any(axis=2)
    assert changed[45:65, 45:65].all() and not changed[:40].any() and not changed[:, :40].any()
    inner = canvas[55, 55].astype(int)
    assert tuple(canvas[45, 50]) == colour  # the outline is the solid class colour
    assert inner.tolist() != list(colour) and inner.tolist() != [100, 100, 100]  # see-through


# ---- real models over real HTTP ------------------------------------------------------------

FRAME_SEED, FRAME_INDEX = 3, 116  # a conveyor frame where the shipped detector sees a crack
                                  # and a scratch (tests/test_predict_cli.py uses it too)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    from lineinspect.render.video import ConveyorScene

    scene = ConveyorScene(seed=FRAME_SEED, width=640, height=480, fps=15)
    return scene.render(FRAME_INDEX)[0]


@pytest.fixture(scope="module")
def shipped() -> Detector:
    from edge.detect.settings import DetectorSettings
    from tests._models import shipped_detector

    det = Detector(DetectorSettings(model=shipped_detector(), providers=["cpu"],
                                    intra_op_threads=1))
    det.warmup()
    return det


@pytest.fixture(scope="module")
def refiner() -> PredictRefiner:
    """The real shipped refiner (not a skip when missing: it is part of the repository)."""
    from edge.api.refiner_load import open_refiner

    return open_refiner(None)


@pytest.fixture(scope="module")
def client(shipped: Detector, refiner: PredictRefiner) -> Iterator[TestClient]:
    parts = build_app(shipped, api=ApiSettings(max_images=4), refiner=refiner)
    with TestClient(parts.app) as c:
        yield c


def _png(name: str, image: np.ndarray, field: str = "files") -> tuple[str, tuple[str, bytes,
                                                                                   str]]:
    return field, (name, encode(image), "image/png")


def _post(client: TestClient, route: str, image: np.ndarray, model: str,
          **params: str) -> httpx.Response:
    r = client.post(route, params={"model": model, **params}, files=[_png("f.png", image)])
    assert r.status_code == 200, r.text
    return r


def _boxes(result: dict) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(d["class_name"], d["score"], tuple(d["box"].values()))
            for d in result["detections"]]


def _decode(rle: dict) -> np.ndarray:
    from lineinspect.masks import rle_decode

    return rle_decode(rle)


def _padded(box: dict, pad: float, h: int, w: int) -> np.ndarray:
    """The box grown by ``pad`` of its longer side on each side (the refiner's crop window)."""
    side = max(box["x2"] - box["x1"], box["y2"] - box["y1"]) * pad
    inside = np.zeros((h, w), bool)
    inside[max(0, int(box["y1"] - side)):int(np.ceil(box["y2"] + side)),
           max(0, int(box["x1"] - side)):int(np.ceil(box["x2"] + side))] = True
    return inside


def test_both_adds_masks_in_image_pixels_and_keeps_the_detectors_boxes(
        client: TestClient, frame: np.ndarray, refiner: PredictRefiner) -> None:
    plain = _post(client, "/predict", frame, "detector").json()
    both = _post(client, "/predict", frame, "both").json()
    assert both["model"] == "both" and both["refiner_info"]["classes"]
    assert both["model_info"] == plain["model_info"]
    (p,), (b,) = plain["results"], both["results"]
    assert _boxes(b) == _boxes(p) and len(p["detections"]) >= 2  # the crack and the scratch
    refined = [d for d in b["detections"] if d["refined"]]
    assert refined, b
    h, w = frame.shape[:2]
    for d in refined:
        mask = _decode(d["mask"])
        assert mask.shape == (h, w) and d["mask"]["size"] == [h, w]
        assert int(mask.sum()) == d["area_px"] > 0
        inside = mask & _padded(d["box"], refiner.pad, h, w)
        assert inside.sum() >= 0.9 * mask.sum(), f"{d['class_name']}: mask outside its box"
        assert d["length_px"] >= d["width_px"] > 0 and 0 <= d["refiner_score"] <= 1
    for d in b["detections"]:
        if not d["refined"]:
            assert (d["mask"], d["area_px"], d["refiner_score"]) == (None, None, None)
    assert b["refine_ms"] > 0


def test_refiner_lists_only_the_refined_detections(client: TestClient,
                                                   frame: np.ndarray) -> None:
    both = _post(client, "/predict", frame, "both").json()["results"][0]
    only = _post(client, "/predict", frame, "refiner").json()
    assert only["model"] == "refiner"
    got = only["results"][0]["detections"]
    assert got == [d for d in both["detections"] if d["refined"]] and got


def test_detector_answers_exactly_as_before_and_aliases_name_the_same_views(
        client: TestClient, frame: np.ndarray) -> None:
    plain = _post(client, "/predict", frame, "detector").json()
    assert set(plain) == {"model", "model_info", "results"}
    (res,) = plain["results"]
    assert set(res) == {"file", "width", "height", "detections", "inference_ms"}
    assert all(set(d) == {"class_id", "class_name", "score", "box"} for d in res["detections"])
    yolo = _post(client, "/predict", frame, "yolo").json()
    assert yolo["model"] == "detector" and _boxes(yolo["results"][0]) == _boxes(res)
    m2f = _post(client, "/predict", frame, "mask2former").json()
    assert m2f["model"] == "both" and any(d["refined"] for d in m2f["results"][0]["detections"])
    assert client.get("/api/status").json()["models"] == ["detector", "refiner", "both"]


def test_visualize_both_draws_the_masks_where_they_are(client: TestClient,
                                                       frame: np.ndarray) -> None:
    plain = _post(client, "/predict_and_visualize", frame, "detector", format="png")
    both = _post(client, "/predict_and_visualize", frame, "both", format="png")
    assert plain.headers["x-masks"] == "0" and int(both.headers["x-masks"]) >= 1
    assert both.headers["x-detections"] == plain.headers["x-detections"]
    a, b = (cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
            for r in (plain, both))
    changed = (a != b).any(axis=2)
    masks = np.zeros(changed.shape, bool)
    for d in _post(client, "/predict", frame, "both").json()["results"][0]["detections"]:
        if d["refined"]:
            masks |= _decode(d["mask"])
    assert changed[masks].mean() > 0.5, "the masks are not drawn"
    near = cv2.dilate(masks.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert not changed[~near].any(), "pixels changed away from the masks"


def test_the_file_field_files_field_or_both_are_taken_in_order(
        client: TestClient, frame: np.ndarray) -> None:
    small = cv2.resize(frame, (320, 240))
    r = client.post("/predict", files=[_png("part.png", frame, "file")])
    assert r.status_code == 200, r.text
    assert [x["file"] for x in r.json()["results"]] == ["part.png"]
    r = client.post("/predict", files=[_png("a.png", frame), _png("b.png", small)])
    assert [x["width"] for x in r.json()["results"]] == [640, 320]
    r = client.post("/predict", files=[_png("f1.png", small, "file"), _png("s.png", frame),
                                       _png("f2.png", frame, "file")])
    assert r.status_code == 200, r.text
    assert [x["file"] for x in r.json()["results"]] == ["f1.png", "f2.png", "s.png"]
    r = client.post("/predict_and_visualize", files=[_png("v.png", frame, "file")])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


def test_limits_count_both_fields_and_neither_is_a_clear_422(client: TestClient,
                                                             frame: np.ndarray) -> None:
    tiny = cv2.resize(frame, (64, 48))
    five = [_png(f"{i}.png", tiny, "file" if i % 2 else "files") for i in range(5)]
    r = client.post("/predict", files=five)
    assert r.status_code == 413 and "5 images" in r.json()["detail"]
    r = client.post("/predict", data={"other": "x"}, files=[("nope", ("n", b"x", "text/plain"))])
    assert r.status_code == 422
    assert "form field 'files' or 'file'" in r.json()["detail"]


def test_seeds_curl_call_works_against_the_real_server(tmp_path: Path, shipped: Detector,
                                                        refiner: PredictRefiner,
                                                        frame: np.ndarray) -> None:
    curl = shutil.which("curl")
    part = tmp_path / "part.jpg"
    cv2.imwrite(str(part), frame)
    with running(build_app(shipped, refiner=refiner)) as server:
        if curl is not None:  # the documented call, byte for byte
            out = subprocess.run([curl, "-sS", "-X", "POST", f"{server.url}/predict?model=both",
                                  "-F", f"file=@{part}"], capture_output=True, text=True,
                                 timeout=120, check=True).stdout
            body = json.loads(out)
        else:
            with part.open("rb") as fh:
                body = httpx.post(f"{server.url}/predict?model=both", timeout=120,
                                  files={"file": ("part.jpg", fh, "image/jpeg")}).json()
    (res,) = body["results"]
    assert res["file"] == "part.jpg" and any(d["refined"] for d in res["detections"]), body


@pytest.mark.parametrize("model", ["refiner", "both", "mask2former"])
def test_without_a_refiner_the_refined_views_answer_503_saying_how(
        tmp_path: Path, model: str) -> None:
    detector = known_answer_detector(tmp_path)
    parts: AppParts = build_app(detector)
    with TestClient(parts.app) as c:
        image = np.full((320, 320, 3), 100, np.uint8)
        for route in ("/predict", "/predict_and_visualize"):
            r = c.post(f"{route}?model={model}", files=[_png("g.png", image)])
            assert r.status_code == 503, r.text
            detail = r.json()["detail"]
            assert f"model={model} needs the refiner" in detail and "refine.model_path" in detail
        assert c.post("/predict", files=[_png("g.png", image)]).status_code == 200
        assert c.get("/api/status").json()["models"] == ["detector"]


def test_cli_both_writes_masks_and_draws_them(tmp_path: Path, frame: np.ndarray) -> None:
    from edge.predict_cli import iter_lines
    from lineinspect.cli import main
    from tests._models import shipped_detector

    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "part.png"), frame)
    runs = {}
    for model in ("detector", "both"):
        out, vis = tmp_path / f"{model}.jsonl", tmp_path / f"vis-{model}"
        assert main(["predict", str(tmp_path / "in"), "--out", str(out), "--visualize", str(vis),
                     "--format", "png", "--model", model, "--detector", str(shipped_detector()),
                     "--quiet"]) == 0
        (line,) = iter_lines(out)
        runs[model] = (line, cv2.imread(str(vis / "part.png")))
    (plain, a), (both, b) = runs["detector"], runs["both"]
    assert "refined" not in plain["detections"][0] and "refiner" not in plain  # type: ignore
    assert both["refiner"]["sha256"] and both["model"] == plain["model"]  # type: ignore
    refined = [d for d in both["detections"] if d["refined"]]  # type: ignore
    assert refined and all(int(_decode(d["mask"]).sum()) == d["area_px"] for d in refined)
    assert [d["box"] for d in both["detections"]] == [  # type: ignore
        d["box"] for d in plain["detections"]]  # type: ignore
    assert a is not None and b is not None and (a != b).any()


def test_cli_model_names_a_view_or_the_detectors_file(tmp_path: Path) -> None:
    from edge.predict_cli import split_model

    assert split_model(None, None) == ("detector", None)
    assert split_model("mask2former", None) == ("both", None)
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    assert split_model(str(onnx), None) == ("detector", onnx)
    with pytest.raises(ValueError, match="not one of detector, refiner, both, yolo, mask2former"):
        split_model("segformer", None)
    with pytest.raises(ValueError, match="both name the detector"):
        split_model(str(onnx), onnx)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_agent_gives_its_api_a_refiner_of_its_own(enabled: bool, frame: np.ndarray) -> None:
    """edge.services builds the API's refiner from api.refiner and refine.model_path, as it builds
    the API's own detector; off, the refined views say how to turn it on."""
    from edge.api.server import free_port
    from edge.metrics import EdgeMetrics
    from edge.services import build_services
    from edge.settings import EdgeSettings
    from tests._models import shipped_detector

    settings = EdgeSettings(
        site="p", line="l", station="s", cameras=[{"id": "cam1", "source": {"kind": "synthetic"}}],
        detector={"model": shipped_detector(), "providers": ["cpu"], "intra_op_threads": 1},
        api={"port": free_port(), "refiner": enabled}, stream={"enabled": False})
    svc, _ = build_services(settings, [Detector(settings.detector)], EdgeMetrics(), [],
                            mqtt=False, api=True)
    try:
        assert svc.api_server is not None
        with httpx.Client(base_url=svc.api_server.url, timeout=60) as http:
            models = http.get("/api/status").json()["models"]
            r = http.post("/predict?model=both", files=[_png("part.png", frame, "file")])
    finally:
        svc.close()
    if enabled:
        assert models == ["detector", "refiner", "both"] and r.status_code == 200, r.text
        assert any(d["refined"] for d in r.json()["results"][0]["detections"])
    else:
        assert models == ["detector"] and r.status_code == 503
        assert "api.refiner: false" in r.json()["detail"]


def test_a_refiner_that_cannot_load_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    from edge.api.refiner_load import api_refiner

    refiner, why = api_refiner(ApiSettings(), tmp_path / "nope.onnx")
    assert refiner is None and f"no refiner model at {tmp_path / 'nope.onnx'}" in why
    assert "refine.model_path" in why
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a model")
    refiner, why = api_refiner(ApiSettings(), bogus)
    assert refiner is None and "cannot load the refiner" in why and str(bogus) in why
