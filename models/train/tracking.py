"""MLflow logging for ultralytics training, done by us rather than ultralytics' own callback.

Ours keeps one MLflow run across a resumed training (the run id is stored next to the
checkpoints), names metrics without ultralytics' ``metrics/...(B)`` punctuation, and never needs
the network: the default tracking URI is a local SQLite file under the working directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

RUN_ID_FILE = "mlflow_run_id.txt"


def default_tracking_uri(workdir: Path) -> str:
    return f"sqlite:///{(workdir / 'mlflow.db').resolve()}"


def set_experiment(tracking_uri: str, name: str) -> None:
    """Select (creating if needed) ``name``; with a local SQLite store, its artifacts go in an
    ``mlartifacts`` folder beside the database instead of MLflow's default ``./mlruns`` in
    whatever directory the command happened to run from."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(name) is None:
        location = None
        if tracking_uri.startswith("sqlite:///"):
            db = Path(tracking_uri.removeprefix("sqlite:///"))
            location = (db.parent / "mlartifacts").resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)


def clean_metric_name(name: str) -> str:
    """``metrics/mAP50-95(B)`` → ``mAP50-95``; ``train/box_loss`` → ``train_box_loss``."""
    name = re.sub(r"\(B\)$", "", name)
    name = name.removeprefix("metrics/")
    return re.sub(r"[^A-Za-z0-9_.\- ]", "_", name)


class MlflowLogger:
    """Ultralytics callbacks: params at start, metrics every epoch, artifacts at the end."""

    def __init__(self, tracking_uri: str, experiment: str, run_dir: Path,
                 params: dict[str, Any]) -> None:
        import mlflow

        self._mlflow = mlflow
        set_experiment(tracking_uri, experiment)
        run_dir.mkdir(parents=True, exist_ok=True)
        id_file = run_dir / RUN_ID_FILE
        run_id = id_file.read_text().strip() if id_file.exists() else None
        self.run = mlflow.start_run(run_id=run_id)
        id_file.write_text(self.run.info.run_id)
        if run_id is None:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def on_fit_epoch_end(self, trainer: Any) -> None:
        metrics = {clean_metric_name(k): float(v) for k, v in trainer.metrics.items()}
        losses = trainer.label_loss_items(trainer.tloss, prefix="train")
        metrics.update({clean_metric_name(k): float(v) for k, v in losses.items()})
        metrics["lr"] = float(next(iter(trainer.lr.values()), 0.0)) if trainer.lr else 0.0
        self._mlflow.log_metrics(metrics, step=int(trainer.epoch) + 1)

    def on_train_end(self, trainer: Any) -> None:
        save_dir = Path(trainer.save_dir)
        for name in ("weights/best.pt", "results.csv", "args.yaml"):
            f = save_dir / name
            if f.exists():
                self._mlflow.log_artifact(str(f))

    def close(self, status: str = "FINISHED") -> None:
        self._mlflow.end_run(status=status)

    def attach(self, model: Any) -> None:
        model.add_callback("on_fit_epoch_end", self.on_fit_epoch_end)
        model.add_callback("on_train_end", self.on_train_end)
