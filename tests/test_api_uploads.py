"""/predict and /predict_and_visualize: right answers for good images, a 4xx with a reason for
every bad upload, and the process carries on unaffected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from edge.api.settings import ApiSettings
from edge.detect.detector import Detector
from edge.stream.annotate import class_colour
from tests._edge_app import (
    AppParts,
    build_app,
    colour_pixels,
    encode,
    known_answer_detector,
    running,
)

GREY = np.full((320, 320, 3), 100, np.uint8)


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    return known_answer_detector(tmp_path_factory.mktemp("model"))


@pytest.fixture
def parts(detector: Detector) -> AppParts:
    return build_app(detector, api=ApiSettings(max_upload_bytes=256 * 1024, max_images=4,
                                               max_image_pixels=2_000_000))


@pytest.fixture
def client(parts: AppParts) -> Iterator[TestClient]:
    with TestClient(parts.app) as c:
        yield c


def _files(*items: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", item) for item in items]


def test_predict_returns_the_models_boxes_in_image_pixels(client: TestClient) -> None:
    r = client.post("/predict", files=_files(("grey.png", encode(GREY), "image/png")))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "detector" and body["model_info"]["classes"] == [
        "scratch", "crack", "dent"]
    (res,) = body["results"]
    assert (res["file"], res["width"], res["height"]) == ("grey.png", 320, 320)
    got = [(d["class_name"], round(d["score"], 2), [round(d["box"][k]) for k in
                                                     ("x1", "y1", "x2", "y2")])
           for d in res["detections"]]
    assert got == [("scratch", 0.9, [50, 90, 100, 130]), ("dent", 0.6, [190, 190, 210, 210])]


def test_many_images_answer_in_order_at_each_ones_scale(client: TestClient) -> None:
    big, small = cv2.resize(GREY, (640, 640)), cv2.resize(GREY, (160, 160))
    r = client.post("/predict", files=_files(("a.jpg", encode(GREY, ".jpg"), "image/jpeg"),
                                             ("b.webp", encode(big, ".webp"), "image/webp"),
                                             ("c.bmp", encode(small, ".bmp"), "image/bmp")))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["file"] for x in results] == ["a.jpg", "b.webp", "c.bmp"]
    assert results[1]["detections"][0]["box"] == {"x1": 100.0, "y1": 180.0, "x2": 200.0,
                                                  "y2": 260.0}
    assert results[2]["detections"][0]["box"] == {"x1": 25.0, "y1": 45.0, "x2": 50.0,
                                                  "y2": 65.0}


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_visualize_draws_the_boxes(client: TestClient, fmt: str) -> None:
    r = client.post(f"/predict_and_visualize?format={fmt}",
                    files=_files(("g.png", encode(GREY), "image/png")))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == f"image/{fmt}" and r.headers["x-detections"] == "2"
    image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (320, 320, 3)
    assert colour_pixels(image, class_colour(0)) > 100  # scratch box (and its label)
    assert colour_pixels(image, class_colour(2)) > 40  # dent box
    assert colour_pixels(GREY, class_colour(0)) == 0


def _png_with_size(w: int, h: int) -> bytes:
    data = bytearray(encode(np.zeros((8, 8, 3), np.uint8)))
    data[16:24] = w.to_bytes(4, "big") + h.to_bytes(4, "big")
    return bytes(data)


BAD_UPLOADS = [
    # (what, files, status, words in the reason)
    ("text file", [("notes.txt", b"hello world, not an image", "text/plain")], 415,
     ["notes.txt", "not an image type"]),
    ("GIF bytes declared as PNG", [("x.png", b"GIF89a" + b"\0" * 64, "image/png")], 415,
     ["x.png", "PNG, JPEG, BMP or WebP"]),
    ("PDF as octet-stream", [("d.bin", b"%PDF-1.7\n" + b"\0" * 64, "application/octet-stream")],
     415, ["d.bin"]),
    ("empty file", [("e.png", b"", "image/png")], 422, ["e.png", "empty"]),
    ("PNG magic then garbage", [("c.png", b"\x89PNG\r\n\x1a\n" + b"\x13" * 200, "image/png")],
     422, ["c.png", "header"]),
    ("truncated JPEG body", [("t.jpg", encode(GREY, ".jpg")[:40], "image/jpeg")], 422,
     ["t.jpg"]),
    ("corrupt PNG data", [("z.png", encode(GREY)[:60] + b"\x00" * 300, "image/png")], 422,
     ["z.png", "could not be decoded"]),
    ("decompression bomb", [("bomb.png", _png_with_size(60000, 60000), "image/png")], 413,
     ["bomb.png", "60000x60000", "api.max_image_pixels"]),
    ("too many images", [(f"{i}.png", encode(GREY), "image/png") for i in range(5)], 413,
     ["5 images", "api.max_images"]),
    ("zero-size header", [("0.png", _png_with_size(0, 10), "image/png")], 422, ["0x10"]),
]


@pytest.mark.parametrize(("what", "files", "status", "words"), BAD_UPLOADS,
                         ids=[b[0] for b in BAD_UPLOADS])
@pytest.mark.parametrize("route", ["/predict", "/predict_and_visualize"])
def test_bad_uploads_get_a_4xx_with_a_reason(client: TestClient, route: str, what: str,
                                             files: list[tuple[str, bytes, str]], status: int,
                                             words: list[str]) -> None:
    if route == "/predict_and_visualize" and what == "too many images":
        files = files[:1]  # visualize draws the first image only
        status, words = 200, []
    r = client.post(route, files=_files(*files))
    assert r.status_code == status, r.text
    if status != 200:
        detail = r.json()["detail"]
        for word in words:
            assert word in detail, f"{what}: {word!r} not in {detail!r}"
    # The process is unaffected: a good image still gets its answer.
    ok = client.post("/predict", files=_files(("g.png", encode(GREY), "image/png")))
    assert ok.status_code == 200 and len(ok.json()["results"][0]["detections"]) == 2


@pytest.mark.parametrize(("kwargs", "status", "word"), [
    ({"json": {"files": ["x"]}}, 415, "multipart/form-data"),
    ({"content": b"raw", "headers": {"content-type": "image/png"}}, 415, "multipart"),
    ({"data": {"other": "field"}, "files": [("nothing", ("n", b"x", "text/plain"))]}, 422,
     "files"),
])
def test_wrong_request_shapes(client: TestClient, kwargs: dict, status: int, word: str) -> None:
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, r.text
    assert word in r.text


def test_unknown_model_is_refused_by_name(client: TestClient) -> None:
    r = client.post("/predict?model=segformer",
                    files=_files(("g.png", encode(GREY), "image/png")))
    assert r.status_code == 422
    for name in ("detector", "refiner", "both", "yolo", "mask2former"):
        assert name in r.text


def test_oversize_bodies_get_413_whether_declared_or_streamed(parts: AppParts) -> None:
    big = encode(np.random.default_rng(0).integers(0, 255, (400, 400, 3), np.uint8))  # ~480 kB
    assert len(big) > 256 * 1024
    with running(parts) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/predict", files=_files(("big.png", big, "image/png")))
        assert r.status_code == 413 and "256" not in r.json()["detail"].split()[0]
        assert "larger than 262144 bytes" in r.json()["detail"]

        boundary = "xyzzy"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
                f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield head
            for i in range(0, len(big), 16384):
                yield big[i:i + 16384]
            yield tail

        r = http.post("/predict", content=chunks(),
                      headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413, r.text
        assert "larger than 262144 bytes" in r.json()["detail"]
        ok = http.post("/predict", files=_files(("g.png", encode(GREY), "image/png")))
        assert ok.status_code == 200
        metrics = http.get("/metrics").text
        assert 'lineinspect_api_uploads_rejected_total{status="413"} 2.0' in metrics


def test_no_model_means_503(tmp_path: Path) -> None:
    with TestClient(build_app(None).app) as c:
        r = c.post("/predict", files=_files(("g.png", encode(GREY), "image/png")))
        assert r.status_code == 503 and "no model" in r.json()["detail"]
        assert c.get("/api/status").json()["models"] == []
