"""The refinement stage end to end with the *real shipped refiner*
(models/artifacts/refiner/lineinspect-refiner-v1.onnx) and the shipped detector: ``lineinspect
edge run`` on the synthetic conveyor with ``refine.enabled``, publishing to a real Mosquitto,
the real collector storing into a real influxd. Refined updates (``refined = true``, a mask,
area, length/width and a severity from the size rules) must arrive in InfluxDB with the
``defect_id`` of a ``new`` that is there too."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lineinspect.contract import DefectEvent
from lineinspect.masks import mask_box, rle_decode
from lineinspect.testing import InfluxServer, MosquittoServer
from tests._cloud_helpers import cloud_settings, running_collector, wait_until
from tests._models import shipped_detector

REPO = Path(__file__).resolve().parents[1]
FRAMES = 150  # 10 s of conveyor at 15 fps


def edge_config(tmp_path: Path, broker: MosquittoServer) -> Path:
    cfg = {
        "site": "plant1", "line": "line3", "station": "st2",
        "cameras": [{"id": "cam1", "mm_per_px": 0.2, "source": {
            "kind": "synthetic", "seed": 5, "fps": 15, "pace": True, "loop": False,
            "frames": FRAMES}}],
        "detector": {"model": str(shipped_detector()), "providers": ["cpu"],
                     "intra_op_threads": 1},
        "tracking": {"min_frames": 2},
        "mqtt": {"url": broker.url, "client_id": "edge-refine-e2e"},
        "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
        "refine": {"enabled": True, "min_score": 0.3},  # the shipped refiner (default path)
        "logging": {"level": "INFO"},
    }  # fmt: skip
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_refined_updates_reach_influxdb(tmp_path: Path, mosquitto: MosquittoServer,
                                        influx: InfluxServer,
                                        mosquitto_sub: Callable[..., Any]) -> None:
    db = f"refine_{uuid.uuid4().hex[:8]}"
    sub = mosquitto_sub(mosquitto, "lineinspect/v1/+/+/+/+/events")
    settings = cloud_settings(mosquitto, influx=influx, database=db)
    log = tmp_path / "edge.log"
    with running_collector(settings) as collector:
        with log.open("w") as out:
            proc = subprocess.run(
                [sys.executable, "-m", "lineinspect.cli", "edge", "run", "--config",
                 str(edge_config(tmp_path, mosquitto)), "--no-api"],
                cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=out,
                stderr=subprocess.STDOUT, timeout=300, check=False)
        text = log.read_text()
        assert proc.returncode == 0, text[-4000:]
        assert "refiner lineinspect-refiner-v1.onnx" in text, text[-4000:]

        def refined() -> list[dict[str, object]]:
            try:
                return influx.select('SELECT * FROM "defect_events" WHERE "refined" = true',
                                     db=db)
            except Exception:
                return []

        wait_until(lambda: bool(refined()), 60, f"no refined point; edge log:\n{text[-3000:]}")
        wait_until(lambda: collector.counters.get("messages_done") > 0, 30)
    # On the wire: the masks themselves (InfluxDB keeps the sizes, not the RLE).
    wire = [DefectEvent.model_validate_json(m.payload) for m in sub.messages]
    updates = [e for e in wire if e.refined]
    assert updates and all(e.kind == "update" for e in updates)
    with_mask = [e for e in updates if e.mask is not None]
    assert with_mask, "every refined update lost its mask"
    for e in with_mask:
        assert e.mask is not None and e.area_px == e.mask.area() > 0
        box = mask_box(rle_decode({"size": e.mask.size, "counts": e.mask.counts}))
        assert box is not None  # and the mask lies around the detection it refined:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        b = e.box
        margin = max(b.x2 - b.x1, b.y2 - b.y1)
        assert b.x1 - margin <= cx <= b.x2 + margin and b.y1 - margin <= cy <= b.y2 + margin
    rows = refined()
    news = {r["defect_id"] for r in influx.select(
        'SELECT "defect_id", "kind" FROM "defect_events" WHERE "kind" = \'new\'', db=db)}
    print(f"{len(rows)} refined updates of {len({r['defect_id'] for r in rows})} defects; "
          f"{len(news)} new")
    for r in rows:
        assert r["kind"] == "update" and r["defect_id"] in news
        assert r["area_px"] > 0 and r["area_mm2"] == pytest.approx(r["area_px"] * 0.04)
        assert r["length_px"] >= r["width_px"] > 0
        assert r["length_mm"] == pytest.approx(r["length_px"] * 0.2, rel=1e-6)
        assert r["severity"] in ("low", "medium", "high")
        assert r["class"] in ("scratch", "crack", "dent")


def test_edge_services_wire_refined_masks_to_the_viewer(tmp_path: Path) -> None:
    """``build_services`` with the API on and refinement on: the shipped refiner's masks reach
    the viewer's per-track board (what the stream draws), through the agent as ``edge run``
    composes it."""
    from edge.api.server import free_port
    from edge.app import EdgeAgent
    from edge.metrics import EdgeMetrics
    from edge.run import build_detectors
    from edge.services import build_services
    from edge.settings import EdgeSettings

    settings = EdgeSettings.model_validate({
        "site": "plant1", "line": "line3", "station": "st2",
        "cameras": [{"id": "cam1", "source": {"kind": "synthetic", "seed": 5, "pace": False,
                                               "loop": False, "frames": 90}}],
        "detector": {"model": str(shipped_detector()), "providers": ["cpu"]},
        "tracking": {"min_frames": 2}, "stream": {"enabled": False},
        "api": {"port": free_port()}, "refine": {"enabled": True, "min_score": 0.3},
    })  # fmt: skip
    svc, parts = build_services(settings, build_detectors(settings), EdgeMetrics(), [],
                                mqtt=False, api=True)
    try:
        assert parts.refine is not None and set(parts.mask_hooks) == {"cam1"}
        agent = EdgeAgent(settings, parts).start()
        assert agent.wait(120)
        agent.stop()
        board = parts.mask_hooks["cam1"].__self__  # type: ignore[attr-defined]
        refined = parts.refine.cameras["cam1"].ctx.counters.refined
        assert refined > 0 and 0 < len(board) <= refined  # one mask per track: the newest
    finally:
        svc.close()
