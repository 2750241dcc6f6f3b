"""Train the Mask2Former mask refiner on CPU, offline, logged to MLflow, resumable.

The crops (:mod:`models.data.refiner_crops`) are rendered once per run from the config's seed
and held in memory; every epoch shuffles them and applies the square's symmetries (flips and 90°
turns: the renderer rotates parts freely, so these are views the world can produce). A
checkpoint (``last.pt``: weights, optimizer, epoch, RNG state, config) is written after every
epoch; running the same command again continues from it, in the same MLflow run.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from lineinspect.crops import DEFAULT_MIN_SIDE, DEFAULT_PAD
from models.data.refiner_crops import MAX_JITTER, CropSample, make_crops
from models.train.refiner_model import RefinerArch, build_model, count_params, pixel_values

LAST = "last.pt"


class RefinerTrainConfig(BaseModel):
    """Everything a refiner run depends on; logged to MLflow as params."""

    model_config = ConfigDict(extra="forbid")

    arch: RefinerArch = Field(default_factory=RefinerArch)
    crops: int = Field(6000, ge=1, description="training crops rendered for the run")
    seed: int = 0
    epochs: int = Field(6, ge=1)
    batch: int = Field(8, ge=1)
    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    pad: float = DEFAULT_PAD
    min_side: float = DEFAULT_MIN_SIDE
    max_jitter: float = Field(MAX_JITTER, ge=0, le=0.5)
    frame_widths: tuple[int, ...] = Field((416,), min_length=1,
                                          description="widths of the frames crops are cut from")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's)")
    out: Path = Path("runs/refiner")
    name: str = "lineinspect-refiner"
    resume: bool = True
    init: Path | None = Field(None, description="warm start: weights of this checkpoint (its "
                              "architecture must match), fresh optimizer and schedule")
    tracking_uri: str | None = Field(None, description="default: sqlite mlflow.db in the run dir")
    experiment: str = "lineinspect-refiner"


def warm_startable(saved: RefinerArch, wanted: RefinerArch) -> bool:
    """Whether weights trained as ``saved`` load into ``wanted``: equal but for the crop size.

    Convolutions, windowed attention and sine position codes carry no weight tied to the input
    size, so a model can continue at a finer resolution.
    """
    return saved.model_copy(update={"input_size": wanted.input_size}) == wanted


def _augment(sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetry ``k`` in 0..7 of the square (rotations by 90° x optional flip)."""
    img, masks = np.rot90(sample.image, k % 4, (0, 1)), np.rot90(sample.masks, k % 4, (1, 2))
    if k >= 4:
        img, masks = img[:, ::-1], masks[:, :, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(masks)


def make_batch(samples: list[CropSample],
               turns: list[int]) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """uint8 crops, per-crop float masks and class ids as Mask2Former's loss takes them."""
    imgs, masks, classes = [], [], []
    for s, k in zip(samples, turns, strict=True):
        img, mk = _augment(s, k)
        imgs.append(img)
        masks.append(torch.from_numpy(mk.astype(np.float32)))
        classes.append(torch.from_numpy(s.classes))
    return torch.from_numpy(np.stack(imgs)), masks, classes


def _logger(cfg: RefinerTrainConfig, run_dir: Path) -> Any:
    import mlflow

    from models.train.tracking import RUN_ID_FILE, set_experiment

    uri = cfg.tracking_uri or f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"
    set_experiment(uri, cfg.experiment)
    id_file = run_dir / RUN_ID_FILE
    run_id = id_file.read_text().strip() if id_file.exists() else None
    run = mlflow.start_run(run_id=run_id)
    id_file.write_text(run.info.run_id)
    if run_id is None:
        params = {**cfg.model_dump(mode="json"), "command": shlex.join(sys.argv)}
        flat = {**{k: v for k, v in params.items() if k != "arch"},
                **{f"arch.{k}": v for k, v in params["arch"].items()}}
        mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})
    return mlflow


def _train_epoch(model: Any, opt: torch.optim.Optimizer, sched: Any, data: list[CropSample],
                 cfg: RefinerTrainConfig, rng: np.random.Generator) -> float:
    model.train()
    order = rng.permutation(len(data))
    losses = []
    for start in range(0, len(order), cfg.batch):
        idx = order[start:start + cfg.batch]
        crops, masks, classes = make_batch([data[i] for i in idx],
                                           [int(v) for v in rng.integers(0, 8, len(idx))])
        out = model(pixel_values=pixel_values(crops), mask_labels=masks, class_labels=classes)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
    return float(np.mean(losses))


def _restore(path: Path, model: Any, opt: torch.optim.Optimizer, sched: Any,
             rng: np.random.Generator) -> dict[str, Any]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    return state


def load_refiner(path: Path) -> tuple[Any, RefinerArch, dict[str, Any]]:
    """A trained refiner (eval mode), its architecture and the checkpoint's other fields."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    arch = RefinerArch.model_validate(state["arch"])
    model = build_model(arch)
    model.load_state_dict(state["model"])
    model.eval()
    return model, arch, state


def train_refiner(cfg: RefinerTrainConfig) -> Path:
    """Train (or resume) and return the path of ``last.pt``."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run_dir = (cfg.out / cfg.name).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    last = run_dir / LAST
    model = build_model(cfg.arch)
    steps = cfg.epochs * -(-cfg.crops // cfg.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps,
                                                pct_start=0.05)
    rng = np.random.default_rng([cfg.seed, 1])
    state = _restore(last, model, opt, sched, rng) if cfg.resume and last.exists() else None
    if state is None and cfg.init is not None:
        warm = torch.load(cfg.init, map_location="cpu", weights_only=False)
        if not warm_startable(RefinerArch.model_validate(warm["arch"]), cfg.arch):
            raise ValueError(f"--init {cfg.init}: its architecture differs from this run's "
                             "(only the crop size may change)")
        model.load_state_dict(warm["model"])
    first = state["epoch"] + 1 if state else 1
    elapsed = float(state["train_seconds"]) if state else 0.0
    if first > cfg.epochs:
        return last
    mlflow = _logger(cfg, run_dir)
    try:
        data = make_crops(cfg.crops, cfg.seed, cfg.arch.input_size, "train", cfg.pad,
                          cfg.min_side, cfg.max_jitter, widths=cfg.frame_widths)
        mlflow.log_metric("params", count_params(model))
        for epoch in range(first, cfg.epochs + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            loss = _train_epoch(model, opt, sched, data, cfg, rng)
            elapsed += time.perf_counter() - t0
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(), "epoch": epoch,
                        "arch": cfg.arch.model_dump(mode="json"),
                        "config": cfg.model_dump(mode="json"), "train_seconds": elapsed}, last)
            mlflow.log_metrics({"train_loss": loss, "epoch_seconds": time.perf_counter() - t0,
                                "epoch_cpu_seconds": time.process_time() - c0,
                                "lr": sched.get_last_lr()[0]}, step=epoch)
            print(f"epoch {epoch}/{cfg.epochs} loss {loss:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.log_artifact(str(last))
    mlflow.end_run()
    return last
