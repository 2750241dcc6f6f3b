"""Event-level accuracy on a recorded video: what an MES subscriber would have received.

``lineinspect models eval-events --model M --video V.mp4`` runs ``lineinspect edge run`` exactly
as a user runs it (a child process, the file inspected offline, every frame, the tracker's
settings as given), reads the v1 events it wrote as JSON lines, and scores them against the
video's per-frame ground truth (``V.gt.jsonl``, written by ``models synth-video``): recall (one
``new`` per physical defect), duplicates per defect, false ``new`` events per true defect, with
and without asking for the right class. The model is never told anything about the video.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edge.track.evaluate import score_events


@dataclass(frozen=True)
class TruthBox:
    defect_id: int
    class_id: int
    box: tuple[float, ...]


@dataclass(frozen=True)
class WireEvent:
    """The fields of a v1 event that scoring needs (``box_seq``: the frame of a `new`)."""

    track_id: int
    kind: str
    class_id: int
    box: tuple[float, ...]
    box_seq: int
    frame_seq: int


def read_truth(gt_path: Path, class_names: Sequence[str]) -> dict[int, list[TruthBox]]:
    """Per-frame defect truth, class ids remapped to the model's by name."""
    index = {n: i for i, n in enumerate(class_names)}
    out: dict[int, list[TruthBox]] = {}
    with gt_path.open() as fh:
        for line in fh:
            row = json.loads(line)
            out[int(row["frame"])] = [
                TruthBox(int(d["defect_id"]), index.get(d["class_name"], -1),
                         tuple(float(v) for v in d["box"])) for d in row["defects"]]
    return out


def read_events(path: Path) -> list[WireEvent]:
    events = []
    for line in path.read_text().splitlines():
        e = json.loads(line)
        b = e["box"]
        box = (float(b["x1"]), float(b["y1"]), float(b["x2"]), float(b["y2"]))
        events.append(WireEvent(int(e["track_id"]), e["kind"], int(e["class_id"]), box,
                                int(e["frame_seq"]), int(e["frame_seq"])))
    return events


def run_edge(model: Path, video: Path, out: Path, tracking: Mapping[str, Any] | None = None,
             timeout_s: float = 3600.0) -> Path:
    """``lineinspect edge run`` on ``video`` offline; returns the events JSON-lines file."""
    out = out.resolve()
    out.unlink(missing_ok=True)  # edge run appends to an events file; score this run's alone
    cfg = out.with_suffix(".edge.yaml")
    doc: dict[str, Any] = {
        "site": "eval", "line": "eval", "station": "eval",
        "cameras": [{"id": "cam1", "source": {"kind": "file", "path": str(video.resolve()),
                                               "loop": False, "pace": False}}],
        "detector": {"model": str(model.resolve()), "providers": ["cpu"]},
    }
    if tracking:
        doc["tracking"] = dict(tracking)
    cfg.write_text(yaml.safe_dump(doc))
    cmd = [sys.executable, "-m", "lineinspect.cli", "edge", "run", "--config", str(cfg),
           "--events-jsonl", str(out), "--no-mqtt", "--no-api"]
    with tempfile.TemporaryDirectory(prefix="lineinspect-eval-") as work:
        proc = subprocess.run(cmd, cwd=work, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"edge run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return out


def score_video(events: Sequence[WireEvent], truth: Mapping[int, Sequence[TruthBox]],
                min_visible_frames: int = 5) -> dict[str, Any]:
    agnostic = score_events(truth, events, min_visible_frames, class_aware=False)
    aware = score_events(truth, events, min_visible_frames, class_aware=True)
    req = max(agnostic.required, 1)
    return {"defects": agnostic.required, "found": agnostic.found, "recall": agnostic.recall,
            "class_recall": aware.recall, "duplicates_per_defect": agnostic.duplicates_per_defect,
            "false_new_per_defect": agnostic.false_new / req, "new_events": agnostic.new_events,
            "missed_ids": sorted(agnostic.missed_ids)}


def evaluate_videos(model: Path, videos: Sequence[Path], workdir: Path,
                    tracking: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Score ``model`` on each video (ground truth beside it) and in total."""
    from lineinspect.manifest import load_manifest, manifest_path_for

    names = load_manifest(manifest_path_for(model)).class_names
    workdir.mkdir(parents=True, exist_ok=True)
    per_video: dict[str, Any] = {}
    totals = {"defects": 0, "found": 0, "duplicates": 0.0, "false_new": 0.0, "class_found": 0.0}
    for video in videos:
        gt = video.with_suffix(".gt.jsonl")
        if not gt.is_file():
            raise FileNotFoundError(f"{video}: no ground truth {gt} beside it")
        out = run_edge(model, video, workdir / f"{video.stem}.events.jsonl", tracking)
        res = score_video(read_events(out), read_truth(gt, names))
        per_video[video.name] = res
        n = res["defects"]
        totals["defects"] += n
        totals["found"] += res["found"]
        totals["class_found"] += res["class_recall"] * n
        totals["duplicates"] += res["duplicates_per_defect"] * n
        totals["false_new"] += res["false_new_per_defect"] * max(n, 1)
    n = max(totals["defects"], 1)
    return {"model": str(model), "videos": per_video, "defects": totals["defects"],
            "recall": totals["found"] / n, "class_recall": totals["class_found"] / n,
            "duplicates_per_defect": totals["duplicates"] / n,
            "false_new_per_defect": totals["false_new"] / n}
