"""Image type and size from the first bytes, checked against files OpenCV itself writes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.api.imagecheck import content_type_ok, header_size, sniff_format

SIZES = [(1, 1), (17, 9), (640, 480), (333, 1001)]
ENCODINGS = [(".png", "png"), (".jpg", "jpeg"), (".bmp", "bmp"), (".webp", "webp")]


def _encode(ext: str, w: int, h: int, params: list[int] | None = None) -> bytes:
    img = np.random.default_rng(w * h).integers(0, 255, (h, w, 3), np.uint8)
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(("ext", "fmt"), ENCODINGS)
@pytest.mark.parametrize("size", SIZES)
def test_format_and_size_from_the_header(ext: str, fmt: str, size: tuple[int, int]) -> None:
    data = _encode(ext, *size)
    assert sniff_format(data) == fmt
    assert header_size(data, fmt) == size


@pytest.mark.parametrize(("params", "label"), [
    ([cv2.IMWRITE_JPEG_PROGRESSIVE, 1], "progressive JPEG"),
    ([cv2.IMWRITE_WEBP_QUALITY, 101], "lossless WebP (VP8L)"),
    ([cv2.IMWRITE_PNG_COMPRESSION, 9], "max-compressed PNG"),
])
def test_encoder_variants(params: list[int], label: str) -> None:
    ext = ".jpg" if "JPEG" in label else ".webp" if "WebP" in label else ".png"
    data = _encode(ext, 123, 45, params)
    fmt = sniff_format(data)
    assert fmt is not None
    assert header_size(data, fmt) == (123, 45), label


@pytest.mark.parametrize(("data", "fmt"), [
    (b"", None),
    (b"GIF89a" + b"\0" * 20, None),
    (b"%PDF-1.7", None),
    (b"BM", None),  # too short to be a bitmap
    (b"RIFF\0\0\0\0WAVEfmt ", None),
    (b"\x89PNG\r\n\x1a\n", "png"),
])
def test_sniff(data: bytes, fmt: str | None) -> None:
    assert sniff_format(data) == fmt


def test_declared_bomb_size_is_read_without_decoding() -> None:
    data = bytearray(_encode(".png", 10, 10))
    data[16:24] = (60000).to_bytes(4, "big") + (60000).to_bytes(4, "big")
    assert header_size(bytes(data), "png") == (60000, 60000)


@pytest.mark.parametrize(("ext", "fmt"), ENCODINGS)
def test_truncated_headers_give_none_not_an_exception(ext: str, fmt: str) -> None:
    data = _encode(ext, 64, 48)
    for cut in (3, 10, 20):
        assert header_size(data[:cut], fmt) in (None, (64, 48))  # type: ignore[arg-type]


def test_jpeg_without_a_frame_header() -> None:
    assert header_size(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
                       b"\xff\xd9", "jpeg") is None
    assert header_size(b"\xff\xd8\xff\xe0\x00\x01", "jpeg") is None  # length < 2


@pytest.mark.parametrize(("ctype", "ok"), [
    (None, True), ("", True), ("image/png", True), ("IMAGE/JPEG; q=1", True),
    ("application/octet-stream", True), ("text/plain", False), ("image/gif", False),
    ("application/pdf", False),
])
def test_declared_content_types(ctype: str | None, ok: bool) -> None:
    assert content_type_ok(ctype) is ok
