"""``POST /predict`` and ``POST /predict_and_visualize``: detections on uploaded images.

Every upload is checked before it reaches the model: declared type, real type from its bytes,
picture size from its header, then decoding; each failure is a 4xx naming the file and what is
wrong. The detector is shared by requests, so calls are serialised and run off the event loop.
``model=both|refiner`` then crops each defect detection for the API's refiner
(``edge.api.refined``) and adds its mask; without a refiner those answer 503 saying how to load it.
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

from edge.api.deps import AppDeps, PredictDetector, PredictRefiner
from edge.api.imagecheck import FORMAT_NAMES, ImageRejected, content_type_ok, decode_image
from edge.api.metrics import ApiCounters
from edge.api.refined import (
    ModelView,
    Refined,
    canonical_model,
    draw_outcome,
    refine_all,
    refined_result,
    refiner_info,
)
from edge.api.results import image_result, model_info
from edge.api.schemas import (
    AnyPredictResponse,
    ImageResult,
    PredictResponse,
    Problem,
    RefinedImageResult,
    RefinedPredictResponse,
)
from edge.detect.types import Detections

ModelName = Literal["detector", "refiner", "both", "yolo", "mask2former"]
# Module level: route signatures are resolved against module globals (postponed annotations).
# Two field names: ``files`` (ours) and ``file`` (the seeds' documented curl call); either or
# both may be sent, every image is taken.
Files = Annotated[list[UploadFile] | None, File(description="one or more images")]
OneFile = Annotated[list[UploadFile] | None, File(
    description="an image; the same as files (may repeat, may be sent with files)")]
ImageFormat = Literal["jpeg", "png"]
MODELS: tuple[str, ...] = ("detector",)
REFINED_MODELS: tuple[str, ...] = ("refiner", "both")
MODEL_HELP = ("detector: the detector's boxes (alias yolo); both: the boxes, each defect "
              "detection with the refiner's mask (alias mask2former); refiner: only the "
              "detections the refiner gave a mask (boxes still come from the detector)")
ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "description": why} for status, why in (
        (413, "body, image count or picture size over the limit"),
        (415, "not multipart/form-data, or a file that is not a PNG/JPEG/BMP/WebP image"),
        (422, "no image, an empty, corrupt or undecodable one, or a bad parameter"),
        (503, "no model loaded, or model=refiner|both without a refiner"),
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
            raise HTTPException(422, "no image in the request (form field 'files' or 'file')")
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


@dataclass(frozen=True, slots=True)
class Outcome:
    result: ImageResult | RefinedImageResult
    det: Detections
    refined: list[Refined | None]  # per detection; all None for the detector view


class Predictor:
    """The API's detector (and refiner) behind locks: one inference per model at a time, off
    the event loop."""

    def __init__(self, detector: PredictDetector, refiner: PredictRefiner | None = None) -> None:
        self.detector = detector
        self.refiner = refiner
        self._lock = threading.Lock()
        self._refine_lock = threading.Lock()
        self.info = model_info(detector)
        self.refiner_info = refiner_info(refiner) if refiner is not None else None

    def detect(self, image: np.ndarray) -> tuple[Detections, float]:
        with self._lock:
            t0 = time.perf_counter()
            det = self.detector.detect(image)
            return det, (time.perf_counter() - t0) * 1000

    def run(self, item: DecodedImage, view: ModelView) -> Outcome:
        det, ms = self.detect(item.image)
        base = image_result(item.name, item.image, det, ms, self.detector.class_names)
        if view == "detector":
            return Outcome(base, det, [None] * len(det))
        if self.refiner is None:  # routes check first; this guards direct callers
            raise HTTPException(503, "the refiner is not loaded on this edge")
        with self._refine_lock:
            refined, refine_ms = refine_all(item.image, det, self.detector.class_names,
                                            self.refiner)
        return Outcome(refined_result(base, refined, refine_ms, view), det, refined)

    def response(self, items: list[DecodedImage], view: ModelView
                 ) -> PredictResponse | RefinedPredictResponse:
        results = [self.run(item, view).result for item in items]
        if view == "detector":
            return PredictResponse(model="detector", model_info=self.info,
                                   results=[r for r in results if isinstance(r, ImageResult)])
        assert self.refiner_info is not None  # run() refused without a refiner
        return RefinedPredictResponse(
            model=view, model_info=self.info, refiner_info=self.refiner_info,
            results=[r for r in results if isinstance(r, RefinedImageResult)])

    def visualize(self, item: DecodedImage, fmt: str, view: ModelView) -> tuple[bytes, int, int]:
        """The encoded picture, how many detections and how many masks it shows."""
        out = self.run(item, view)
        drawn = draw_outcome(item.image, out.det, out.refined, view, self.detector.class_names)
        ext, params = (".png", [cv2.IMWRITE_PNG_COMPRESSION, 3]) if fmt == "png" else (
            ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90])
        ok, buf = cv2.imencode(ext, drawn, params)
        if not ok:
            raise HTTPException(500, "could not encode the annotated image")
        masks = sum(r is not None for r in out.refined)
        return buf.tobytes(), len(out.result.detections), masks


def predict_router(deps: AppDeps, counters: ApiCounters) -> APIRouter:
    router = APIRouter(tags=["predict"])
    checker = UploadChecker(deps.api.max_images, deps.api.max_image_pixels)
    predictor = (Predictor(deps.detector, deps.refiner) if deps.detector is not None else None)

    def need_model(model: str) -> tuple[Predictor, ModelView]:
        if predictor is None:
            raise HTTPException(503, "no model is loaded on this edge")
        view = canonical_model(model)  # the query type already refused unknown names
        if view != "detector" and predictor.refiner is None:
            raise HTTPException(503, f"model={model} needs the refiner: {deps.refiner_off}")
        return predictor, view

    async def checked(files: list[UploadFile]) -> list[DecodedImage]:
        try:
            return await checker.read_all(files)
        except HTTPException as exc:
            counters.reject(exc.status_code)
            raise

    @router.post("/predict", response_model=AnyPredictResponse, responses=ERRORS)
    async def predict(files: Files = None, file: OneFile = None,
                      model: Annotated[ModelName, Query(description=MODEL_HELP)] = "detector",
                      ) -> PredictResponse | RefinedPredictResponse:
        """Detections for each uploaded image (fields ``file`` then ``files``), in the order
        sent; with ``model=both|refiner`` also the refiner's masks."""
        p, view = need_model(model)
        items = await checked([*(file or []), *(files or [])])
        response = await run_in_threadpool(p.response, items, view)
        counters.predictions += len(items)
        return response

    @router.post("/predict_and_visualize", responses={
        **ERRORS, 200: {"content": {"image/jpeg": {}, "image/png": {}},
                        "description": "the image with boxes (and masks) drawn"}},
        response_class=Response)
    async def predict_and_visualize(
            files: Files = None, file: OneFile = None,
            model: Annotated[ModelName, Query(description=MODEL_HELP)] = "detector",
            format: Annotated[ImageFormat, Query()] = "jpeg") -> Response:
        """The first uploaded image with its detections drawn (boxes, class, score) and, with
        ``model=both|refiner``, the masks (translucent fill and outline in the class colour)."""
        p, view = need_model(model)
        items = await checked([*(file or []), *(files or [])][:1])
        data, count, masks = await run_in_threadpool(p.visualize, items[0], format, view)
        counters.predictions += 1
        return Response(data, media_type=f"image/{format}",
                        headers={"X-Detections": str(count), "X-Masks": str(masks),
                                 "X-Model": view})

    return router
