"""Soak test: a whole site on loopback for a set time, watching every process for leaks.

Runs, each as its own process(es): Mosquitto and influxd (Debian's, as in the tests), the edge
agent (`lineinspect edge run`: synthetic conveyor camera at its full rate through the shipped
detector, publishing over MQTT through its outbox, streaming), two WHEP viewers (aiortc, each in
its own process, watching the live video the whole time) and the collector (`lineinspect cloud
run`, writing to influxd; its worker process included). Every ``--interval`` seconds it samples
the resident memory (RSS), open file descriptors and threads of every one of them and of their
child processes, and prints a line.

    python bench/soak.py [--duration 3600] [--interval 60] [--warmup 600] [--fps 15]

The last line printed is one JSON object: per process the RSS, fds and threads at the end of the
warm-up and at the end, RSS growth in percent, and the fd/thread change; events stored, viewer
frames; ``ok`` is true when each lineinspect process (edge, collector, viewers, and their
children) grew < 5 % in RSS after the warm-up and its fds and threads stayed within +2 of the
post-warm-up sample (flat, allowing a transient connection); Mosquitto and influxd are
reported for reference.
The warm-up defaults to 10 minutes, or a third of a shorter run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lineinspect.testing import InfluxServer, MosquittoServer, free_port

REPO = Path(__file__).resolve().parents[1]

RSS_GROWTH_LIMIT_PCT = 5.0
# Judged: lineinspect's own processes. The broker and database are sampled for reference only
# (their caches legitimately fill during the first hour).
REFERENCE_ONLY = ("mosquitto", "influxd")
FLAT_SLACK = 2  # fds/threads: a connection being re-made at the sampling instant


# -- figures (pure) ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    t_s: float
    rss_kb: int
    fds: int
    threads: int


def growth(samples: Sequence[Sample], warmup_s: float) -> dict[str, Any]:
    """Growth of one process from its first sample at or after ``warmup_s`` to its last."""
    after = [s for s in samples if s.t_s >= warmup_s]
    if len(after) < 2:
        raise ValueError(f"need two samples after the {warmup_s:.0f} s warm-up, "
                         f"got {len(after)}: run longer or sample more often")  # fmt: skip
    base, last = after[0], after[-1]
    rss_pct = 100.0 * (last.rss_kb - base.rss_kb) / base.rss_kb
    return {
        "rss_mb_base": round(base.rss_kb / 1024, 1), "rss_mb_last": round(last.rss_kb / 1024, 1),
        "rss_mb_max": round(max(s.rss_kb for s in after) / 1024, 1),
        "rss_growth_pct": round(rss_pct, 2),
        "fds_base": base.fds, "fds_last": last.fds, "fds_max": max(s.fds for s in after),
        "threads_base": base.threads, "threads_last": last.threads,
        "threads_max": max(s.threads for s in after),
        "ok": (rss_pct < RSS_GROWTH_LIMIT_PCT
               and max(s.fds for s in after) <= base.fds + FLAT_SLACK
               and max(s.threads for s in after) <= base.threads + FLAT_SLACK),
    }  # fmt: skip


def default_warmup(duration_s: float) -> float:
    return min(600.0, duration_s / 3)


# -- /proc ---------------------------------------------------------------------------------------
def read_sample(pid: int, t_s: float) -> Sample | None:
    """RSS, fds and threads of ``pid`` now; None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return Sample(t_s, int(fields["VmRSS"].split()[0]), fds, int(fields["Threads"]))


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (the collector's worker process, the edge's helpers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def watched(roots: Mapping[str, int]) -> dict[str, int]:
    """name -> pid for the roots and their descendants (``edge/1234``)."""
    out = dict(roots)
    for name, pid in roots.items():
        for child in children(pid):
            comm = Path(f"/proc/{child}/comm").read_text().strip() if Path(
                f"/proc/{child}/comm").exists() else "?"  # fmt: skip
            out[f"{name}/{comm}"] = child
    return out


# -- the viewer (child process) ------------------------------------------------------------------
async def _view(url: str, seconds: float, out: Path) -> None:
    from ipaddress import ip_address

    import av

    from edge.stream.whep_client import WhepClient

    frames, reconnects = 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        client = WhepClient(url, host_addresses=[ip_address("127.0.0.1")])
        try:
            track = await client.connect()
            while time.monotonic() < end:
                frame = await asyncio.wait_for(track.recv(), 30)
                if isinstance(frame, av.VideoFrame):
                    frames += 1
                if frames % 25 == 0:  # the parent ends this process with SIGTERM
                    out.write_text(json.dumps({"frames": frames, "reconnects": reconnects}))
        except Exception as exc:  # a dropped session: count it and come back, like a browser
            reconnects += 1
            print(f"viewer: {type(exc).__name__}: {exc}; reconnecting", file=sys.stderr)
            await asyncio.sleep(2)
        finally:
            await client.close()
    out.write_text(json.dumps({"frames": frames, "reconnects": reconnects}))


# -- the site ------------------------------------------------------------------------------------
def _configs(work: Path, broker: MosquittoServer, influx: InfluxServer, fps: float,
             edge_port: int, cloud_port: int) -> tuple[Path, Path]:  # fmt: skip
    edge = {
        "site": "soak", "line": "line1", "station": "st1",
        "cameras": [{"id": "cam1", "source": {"kind": "synthetic", "fps": fps}}],
        "mqtt": {"url": broker.url, "protocol": "5"},
        "outbox": {"path": str(work / "outbox.sqlite3")},
        "api": {"host": "127.0.0.1", "port": edge_port},
        "stream": {"enabled": True, "fps": 15, "ice_servers": [],
                   "ice_host_addresses": ["127.0.0.1"]},
        "stats": {"interval_s": 10},
    }  # fmt: skip
    cloud = {
        "collector": {"mqtt": {"url": broker.url, "client_id": "soak-collector"}},
        "influx": {"api": "v1", "url": influx.url, "database": "soak", "create_database": True},
        "store": {"path": str(work / "store.sqlite3")},
        "api": {"host": "127.0.0.1", "port": cloud_port},
    }  # fmt: skip
    paths = work / "edge.yaml", work / "cloud.yaml"
    for path, doc in zip(paths, (edge, cloud), strict=True):
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return paths


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    with log.open("wb") as fh:
        return subprocess.Popen(argv, cwd=log.parent, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)  # fmt: skip


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout_s:.0f} s")


def _stop(procs: Mapping[str, subprocess.Popen[bytes]]) -> dict[str, int | None]:
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    codes: dict[str, int | None] = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            codes[name] = proc.wait(timeout=10)
    return codes


Procs = Mapping[str, "subprocess.Popen[bytes]"]


def _sample_loop(roots: Mapping[str, int], duration_s: float, interval_s: float,
                 procs: Procs) -> dict[str, list[Sample]]:  # fmt: skip
    series: dict[str, list[Sample]] = {}
    t0 = time.monotonic()
    while True:
        now = time.monotonic() - t0
        for name, pid in watched(roots).items():
            sample = read_sample(pid, now)
            if sample is not None:
                series.setdefault(name, []).append(sample)
        line = "  ".join(f"{n}={s[-1].rss_kb // 1024}M/{s[-1].fds}fd/{s[-1].threads}t"
                         for n, s in sorted(series.items()) if s[-1].t_s == now)  # fmt: skip
        print(f"[{now:7.0f} s] {line}", flush=True)
        dead = [n for n, p in procs.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{dead} exited during the soak")
        if now >= duration_s:
            return series
        time.sleep(max(0.0, min(interval_s, duration_s - now)))


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="lineinspect-soak-"))
    broker, influx = MosquittoServer(work / "mosquitto"), InfluxServer(work / "influxd")
    broker.start()
    influx.start()
    edge_port, cloud_port = free_port(), free_port()
    edge_cfg, cloud_cfg = _configs(work, broker, influx, args.fps, edge_port, cloud_port)
    cli = [sys.executable, "-m", "lineinspect.cli"]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        procs["collector"] = _spawn([*cli, "cloud", "run", "--config", str(cloud_cfg)],
                                    work / "collector.log")  # fmt: skip
        procs["edge"] = _spawn([*cli, "edge", "run", "--config", str(edge_cfg)], work / "edge.log")
        _wait_http(f"http://127.0.0.1:{cloud_port}/healthz", 120, procs["collector"],
                   work / "collector.log")  # fmt: skip
        _wait_http(f"http://127.0.0.1:{edge_port}/ready", 180, procs["edge"], work / "edge.log")
        for i in (1, 2):
            procs[f"viewer{i}"] = _spawn(
                [sys.executable, __file__, "--viewer", f"http://127.0.0.1:{edge_port}/whep/cam1",
                 "--seconds", str(args.duration + 60), "--out", str(work / f"viewer{i}.json")],
                work / f"viewer{i}.log")  # fmt: skip
        roots = {name: p.pid for name, p in procs.items()}
        roots.update(mosquitto=broker.pid or 0, influxd=influx.pid or 0)
        began = time.monotonic()
        series = _sample_loop(roots, args.duration, args.interval, procs)
        edge = _edge_counts(edge_port, time.monotonic() - began)
        stored = _stored_events(influx)
    finally:
        codes = _stop(procs)
        broker.close()
        influx.close()
    warmup = args.warmup if args.warmup is not None else default_warmup(args.duration)
    figures = {name: growth(s, warmup) for name, s in sorted(series.items())
               if len([x for x in s if x.t_s >= warmup]) >= 2}  # fmt: skip
    viewers = [json.loads((work / f"viewer{i}.json").read_text()) for i in (1, 2)
               if (work / f"viewer{i}.json").exists()]  # fmt: skip
    return {"duration_s": args.duration, "interval_s": args.interval, "warmup_s": warmup,
            "fps": args.fps, "edge": edge, "events_stored": stored, "viewers": viewers,
            "exit_codes": codes,
            "processes": figures, "work_dir": str(work),
            "ok": bool(figures) and all(f["ok"] for n, f in figures.items()
                                        if not n.startswith(REFERENCE_ONLY))
            and len(viewers) == 2 and all(v["frames"] > 0 for v in viewers)}  # fmt: skip


def prometheus_total(text: str, name: str) -> float:
    """Sum of every sample of ``name`` (all label sets) in Prometheus text format."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _edge_counts(port: int, seconds: float) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    inspected = prometheus_total(text, "lineinspect_frames_inspected_total")
    return {"frames_inspected": inspected,
            "frames_dropped": prometheus_total(text, "lineinspect_frames_dropped_total"),
            "events": prometheus_total(text, "lineinspect_events_total"),
            "inspected_fps": round(inspected / seconds, 2) if seconds > 0 else 0.0}  # fmt: skip


def _stored_events(influx: InfluxServer) -> int:
    rows = influx.select('SELECT count("event_id") FROM "defect_events"', db="soak")
    return int(rows[0]["count"]) if rows else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=3600.0, help="seconds (default 1 h)")
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before the growth baseline (default: 600, or 1/3 of a "
                         "shorter run)")  # fmt: skip
    ap.add_argument("--fps", type=float, default=15.0, help="camera frames per second")
    ap.add_argument("--viewer", help=argparse.SUPPRESS)  # child mode: one WHEP viewer
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.viewer:
        asyncio.run(_view(args.viewer, args.seconds, args.out))
        return
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
