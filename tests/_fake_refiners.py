"""In-memory *fake* refiners for the refinement stage's unit and storm tests (not the model):
each has the real ``Refiner``'s interface and a fixed, checkable answer. The end-to-end tests
use the shipped refiner instead (tests/test_refine_e2e.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class FakeRefinedMask:
    prob: np.ndarray
    class_name: str
    score: float


class FakeDiscRefiner:
    """Fake: answers every crop with a centred disc of radius ``input_size / 4``."""

    def __init__(self, input_size: int = 64, delay_s: float = 0.0) -> None:
        self.input_size = input_size
        self.pad = 0.25
        self.min_side = 24.0
        self.mask_threshold = 0.5
        self.class_names = ("scratch", "crack", "dent")
        self.delay_s = delay_s
        self.last_ms = 0.0
        self.calls = 0
        self._lock = threading.Lock()
        yy, xx = np.mgrid[:input_size, :input_size]
        c = (input_size - 1) / 2.0
        self._prob = ((xx - c) ** 2 + (yy - c) ** 2 <= (input_size / 4) ** 2).astype(np.float32)

    def refine(self, crop: np.ndarray, class_name: str | None = None) -> FakeRefinedMask | None:
        assert crop.shape == (self.input_size, self.input_size, 3) and crop.dtype == np.uint8
        with self._lock:
            self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)  # a slow model: the sleep releases the GIL like ORT does
        return FakeRefinedMask(self._prob, class_name or "scratch", 0.9)


class FakeSlowRefiner(FakeDiscRefiner):
    """Fake: the disc, after ``delay_s`` seconds per crop (a deliberately slow refiner)."""

    def __init__(self, delay_s: float = 0.05, input_size: int = 64) -> None:
        super().__init__(input_size, delay_s)


class FakeCheckerRefiner(FakeDiscRefiner):
    """Fake: a fine checkerboard, whose RLE over a large window cannot fit one message."""

    def __init__(self, input_size: int = 256) -> None:
        super().__init__(input_size)
        yy, xx = np.mgrid[:input_size, :input_size]
        self._prob = ((xx + yy) % 2).astype(np.float32)


class FakeEmptyRefiner(FakeDiscRefiner):
    """Fake: finds nothing."""

    def refine(self, crop: np.ndarray, class_name: str | None = None) -> FakeRefinedMask | None:
        return None
