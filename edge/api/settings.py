"""Settings of the edge HTTP API (the ``api`` section of the edge config)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lineinspect.config.http import CorsOrigin, check_exposure
from lineinspect.config.secrets import pick_secret, readable_file


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", min_length=1, description="0.0.0.0 to serve the network")
    port: int = Field(8080, ge=1, le=65535)
    token: SecretStr | None = Field(
        None, description="bearer token guarding everything but /health; None: no auth")
    token_file: Path | None = None
    allow_anonymous: bool = Field(
        False, description="serve beyond loopback without a token (anyone on that network)")
    cors_origins: list[CorsOrigin] = Field(
        default_factory=list, max_length=100,
        description="web origins whose pages may use WHEP (/whep/...); none by default")
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, le=1024**3, description="whole request body, all images")
    max_images: int = Field(32, ge=1, le=1000, description="images per /predict request")
    max_image_pixels: int = Field(
        40_000_000, ge=1024, le=500_000_000,
        description="width x height read from the image header before decoding (bomb guard)")
    event_history: int = Field(
        200, ge=1, le=100_000, description="recent defect events kept for new viewers")
    sse_heartbeat_s: float = Field(15.0, gt=0, le=300, description="keep-alive comment period")
    # The API's own refiner session (/predict?model=refiner|both), of the model file the
    # refinement stage names (refine.model_path): one setting says which refiner this edge runs.
    refiner: bool = Field(
        True, description="load the Mask2Former refiner (refine.model_path) for "
        "/predict?model=refiner|both (false: those answer 503 and its memory is saved)")

    @field_validator("token_file")
    @classmethod
    def _secret_file(cls, value: Path | None) -> Path | None:
        return None if value is None else readable_file(value)

    @model_validator(mode="after")
    def _resolve(self) -> ApiSettings:
        self.token = pick_secret("token", self.token, self.token_file)
        check_exposure(self.host, self.token, self.allow_anonymous)
        return self
