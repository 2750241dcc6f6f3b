"""What an uploaded file is, and how big its picture is, from its first bytes.

Decoding is the expensive and dangerous step (a small PNG can declare a 60000 x 60000 picture);
these pure functions let the API refuse a wrong type or an oversized picture before decoding.
"""

from __future__ import annotations

import struct
from typing import Literal

import cv2
import numpy as np

ImageFormat = Literal["png", "jpeg", "bmp", "webp"]
FORMAT_NAMES = "PNG, JPEG, BMP or WebP"
# Declared types we accept; the bytes decide the real type anyway.
ACCEPTED_CONTENT_TYPES = frozenset({
    "image/png", "image/jpeg", "image/jpg", "image/pjpeg", "image/bmp", "image/x-bmp",
    "image/x-ms-bmp", "image/webp", "application/octet-stream",
})
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG), CC (DAC) share the range.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def sniff_format(data: bytes) -> ImageFormat | None:
    """The image format from magic bytes, or None if it is none we accept."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"BM") and len(data) >= 26:
        return "bmp"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2:
            return None
        if marker in _SOF:
            if pos + 9 > n:
                return None
            h, w = struct.unpack(">HH", data[pos + 5:pos + 9])
            return int(w), int(h)
        pos += 2 + length
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (header,) = struct.unpack("<I", data[14:18])
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h = struct.unpack("<HH", data[18:22])
        return int(w), int(h)
    w, h = struct.unpack("<ii", data[18:26])
    return abs(int(w)), abs(int(h))


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", data[26:30])
        return int(w & 0x3FFF), int(h & 0x3FFF)
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            return None
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    return None


_SIZERS = {"png": _png_size, "jpeg": _jpeg_size, "bmp": _bmp_size, "webp": _webp_size}


def header_size(data: bytes, fmt: ImageFormat) -> tuple[int, int] | None:
    """(width, height) declared by the file's header, or None if the header is unreadable."""
    return _SIZERS[fmt](data)


def content_type_ok(content_type: str | None) -> bool:
    """Whether a declared part type may hold an image (missing counts as unknown, allowed)."""
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in ACCEPTED_CONTENT_TYPES


class ImageRejected(Exception):
    """An upload that is not a usable image; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def decode_image(name: str, data: bytes, max_pixels: int) -> np.ndarray:
    """BGR pixels of an uploaded file, after checking type and size from its header."""
    if not data:
        raise ImageRejected(422, f"{name!r} is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageRejected(415, f"{name!r} is not a {FORMAT_NAMES} image "
                                 f"(it starts with {data[:8]!r})")
    size = header_size(data, fmt)
    if size is None:
        raise ImageRejected(422, f"{name!r}: the {fmt.upper()} header is corrupt or truncated; "
                                 "cannot read the picture size")
    w, h = size
    if w < 1 or h < 1:
        raise ImageRejected(422, f"{name!r}: the header declares a {w}x{h} picture")
    if w * h > max_pixels:
        raise ImageRejected(413, f"{name!r} is {w}x{h} = {w * h} pixels; the limit is "
                                 f"{max_pixels} (api.max_image_pixels)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageRejected(422, f"{name!r} looks like {fmt.upper()} but could not be decoded "
                                 "(corrupt or truncated)")
    return image
