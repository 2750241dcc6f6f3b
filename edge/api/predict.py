"""``POST /predict`` and ``POST /predict_and_visualize``: detections on uploaded images.

Every upload is checked before it reaches the model: declared type, real type from its bytes,
picture size from its header, then decoding; each failure is a 4xx naming the file and what is
wrong. The detector is shared by requests, so calls are serialised and run off the event loop.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated, Literal

import cv2
import numpy as np
from fastapi import APIRouter, File, HTTPException, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from edge.api.deps import AppDeps, PredictDetector
from edge.api.imagecheck import FORMAT_NAMES, ImageRejected, content_type_ok, decode_image
from edge.api.metrics import ApiCounters
from edge.api.results import image_result, model_info
from edge.api.schemas import ImageResult, PredictResponse, Problem
from edge.detect.types import Detections
from edge.stream.annotate import annotate
from edge.stream.hub import Overlay

ModelName = Literal["detector"]
# Module level: route signatures are resolved against module globals (postponed annotations).
Files = Annotated[list[UploadFile], File(description="one or more images")]
ImageFormat = Literal["jpeg", "png"]
MODELS: tuple[str, ...] = ("detector",)
ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "description": why} for status, why in (
        (413, "body, image count or picture size over the limit"),
        (415, "not multipart/form-data, or a file that is not a PNG/JPEG/BMP/WebP image"),
        (422, "empty, corrupt or undecodable image, or a bad parameter"),
        (503, "no model loaded"),
    )
}


@dataclass(frozen=True, slots=True)
class DecodedImage:
    name: str
    image: np.ndarray


class UploadChecker:
    def __init__(self, max_images: int, max_pixels: int) -> None:
        self.max_images = max_images
        self.max_pixels = max_pixels

    async def read_all(self, files: list[UploadFile]) -> list[DecodedImage]:
        if not files:
            raise HTTPException(422, "no image in the request (form field 'files')")
        if len(files) > self.max_images:
            raise HTTPException(413, f"{len(files)} images in one request; the limit is "
                                     f"{self.max_images} (api.max_images)")
        out = []
        for i, upload in enumerate(files):
            name = upload.filename or f"file #{i + 1}"
            if not content_type_ok(upload.content_type):
                raise HTTPException(415, f"{name!r}: content type {upload.content_type!r} is not "
                                         f"an image type; send {FORMAT_NAMES}")
            data = await upload.read()
            out.append(DecodedImage(name, await run_in_threadpool(self.decode, name, data)))
        return out

    def decode(self, name: str, data: bytes) -> np.ndarray:
        try:
            return decode_image(name, data, self.max_pixels)
        except ImageRejected as exc:
            raise HTTPException(exc.status, exc.message) from None


class Predictor:
    """The API's detector behind a lock: one inference at a time, off the event loop."""

    def __init__(self, detector: PredictDetector) -> None:
        self.detector = detector
        self._lock = threading.Lock()
        self.info = model_info(detector)

    def detect(self, image: np.ndarray) -> tuple[Detections, float]:
        with self._lock:
            t0 = time.perf_counter()
            det = self.detector.detect(image)
            return det, (time.perf_counter() - t0) * 1000

    def result(self, item: DecodedImage) -> tuple[ImageResult, Detections]:
        det, ms = self.detect(item.image)
        return image_result(item.name, item.image, det, ms, self.detector.class_names), det

    def results(self, items: list[DecodedImage]) -> list[ImageResult]:
        return [self.result(item)[0] for item in items]

    def visualize(self, item: DecodedImage, fmt: str) -> tuple[bytes, int]:
        _, det = self.result(item)
        overlay = Overlay(det.xyxy, det.class_id, det.score, class_names=self.detector.class_names)
        drawn = annotate(item.image, overlay)
        ext, params = (".png", [cv2.IMWRITE_PNG_COMPRESSION, 3]) if fmt == "png" else (
            ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90])
        ok, buf = cv2.imencode(ext, drawn, params)
        if not ok:
            raise HTTPException(500, "could not encode the annotated image")
        return buf.tobytes(), len(det)


def predict_router(deps: AppDeps, counters: ApiCounters) -> APIRouter:
    router = APIRouter(tags=["predict"])
    checker = UploadChecker(deps.api.max_images, deps.api.max_image_pixels)
    predictor = Predictor(deps.detector) if deps.detector is not None else None

    def need_model() -> Predictor:
        if predictor is None:
            raise HTTPException(503, "no model is loaded on this edge")
        return predictor

    async def checked(files: list[UploadFile]) -> list[DecodedImage]:
        try:
            return await checker.read_all(files)
        except HTTPException as exc:
            counters.reject(exc.status_code)
            raise

    @router.post("/predict", response_model=PredictResponse, responses=ERRORS)
    async def predict(files: Files, model: Annotated[ModelName, Query()] = "detector"
                      ) -> PredictResponse:
        """Detections for each uploaded image, in the order sent."""
        p = need_model()
        items = await checked(files)
        results = await run_in_threadpool(p.results, items)
        counters.predictions += len(items)
        return PredictResponse(model=model, model_info=p.info, results=results)

    @router.post("/predict_and_visualize", responses={
        **ERRORS, 200: {"content": {"image/jpeg": {}, "image/png": {}},
                        "description": "the image with boxes drawn"}},
        response_class=Response)
    async def predict_and_visualize(
            files: Files, model: Annotated[ModelName, Query()] = "detector",
            format: Annotated[ImageFormat, Query()] = "jpeg") -> Response:
        """The first uploaded image with its detections drawn (boxes, class, score)."""
        p = need_model()
        items = await checked(files[:1])
        data, count = await run_in_threadpool(p.visualize, items[0], format)
        counters.predictions += 1
        return Response(data, media_type=f"image/{format}",
                        headers={"X-Detections": str(count), "X-Model": model})

    return router
