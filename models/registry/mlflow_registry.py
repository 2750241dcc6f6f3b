"""Model registry on MLflow: register an exported model with an alias, pull it by alias.

A registered version's artifacts are exactly what the edge loads: the ONNX file and its
manifest. ``pull`` verifies the manifest's sha256 before it reports success, so a damaged
download never reaches a station.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

DEFAULT_NAME = "lineinspect-detector"
ALIASES = ("staging", "production")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _checkpoint(folder: Path, meta: dict[str, Any]) -> Path | None:
    """The training checkpoint a manifest names (None when it names none)."""
    ref = meta.get("checkpoint")
    if not ref:
        return None
    path = folder / str(ref["file"])
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the checkpoint the manifest names is missing")
    return path


def _client(tracking_uri: str) -> Any:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def register_model(onnx: Path, manifest: Path, tracking_uri: str, alias: str,
                   name: str = DEFAULT_NAME, experiment: str = "lineinspect-registry") -> int:
    """Log ``onnx`` + ``manifest`` in a run, create a registry version, point ``alias`` at it."""
    import mlflow

    if alias not in ALIASES:
        raise ValueError(f"alias must be one of {ALIASES}, got {alias!r}")
    for f in (onnx, manifest):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no such file")
    meta = json.loads(manifest.read_text())
    if meta.get("sha256") and meta["sha256"] != _sha256(onnx):
        raise ValueError(f"{onnx}: sha256 does not match {manifest}; refusing to register")
    ckpt = _checkpoint(onnx.parent, meta)
    if ckpt is not None and _sha256(ckpt) != meta["checkpoint"]["sha256"]:
        raise ValueError(f"{ckpt}: sha256 does not match {manifest}; refusing to register")
    from models.train.tracking import set_experiment

    client = _client(tracking_uri)
    set_experiment(tracking_uri, experiment)
    with mlflow.start_run(run_name=f"register-{onnx.stem}") as run:
        mlflow.log_artifact(str(onnx), artifact_path="model")
        mlflow.log_artifact(str(manifest), artifact_path="model")
        if ckpt is not None:
            mlflow.log_artifact(str(ckpt), artifact_path="model")
        mlflow.log_params({"model_file": onnx.name, "sha256": meta.get("sha256", ""),
                           "model_version": str(meta.get("version", ""))})
        metrics = meta.get("metrics") or {}
        flat = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if flat:
            mlflow.log_metrics(flat)
        source = f"{run.info.artifact_uri}/model"
    try:
        client.create_registered_model(name)
    except Exception as exc:  # already exists: MLflow raises RESOURCE_ALREADY_EXISTS
        if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise
    mv = client.create_model_version(name, source=source, run_id=run.info.run_id,
                                     tags={"sha256": meta.get("sha256", ""),
                                           "file": onnx.name})
    client.set_registered_model_alias(name, alias, mv.version)
    return int(mv.version)


def pull_model(alias: str, dest: Path, tracking_uri: str, name: str = DEFAULT_NAME) -> Path:
    """Download the version behind ``alias`` into ``dest``; returns the ONNX path."""
    import mlflow.artifacts

    client = _client(tracking_uri)
    mv = client.get_model_version_by_alias(name, alias)
    staging = dest / f".pull-{mv.version}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(staging))
    files = list(staging.rglob("*.onnx"))
    if len(files) != 1:
        raise RuntimeError(f"version {mv.version} of {name} holds {len(files)} ONNX files, not 1")
    onnx = files[0]
    manifest = onnx.with_suffix(".json")
    if not manifest.is_file():
        raise RuntimeError(f"version {mv.version} of {name} has no manifest {manifest.name}")
    meta = json.loads(manifest.read_text())
    if meta.get("sha256") != _sha256(onnx):
        raise RuntimeError(f"downloaded {onnx.name}: sha256 differs from its manifest")
    files = [onnx, manifest]
    if meta.get("checkpoint"):
        ckpt = _checkpoint(onnx.parent, meta)
        if ckpt is None or _sha256(ckpt) != meta["checkpoint"]["sha256"]:
            raise RuntimeError(f"version {mv.version} of {name}: checkpoint "
                               f"{meta['checkpoint']['file']} missing or its sha256 differs")
        files.append(ckpt)
    # Move into place only after verification, so DEST never holds a half-pulled model.
    for f in files:
        shutil.move(str(f), dest / f.name)
    shutil.rmtree(staging)
    return dest / onnx.name
