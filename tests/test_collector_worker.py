"""The collector's worker process (judging and writing off the MQTT process): a batch is
settled exactly as in-process, a worker that dies mid-batch is replaced and the batch settled
again without loss, an abort ends a write that cannot succeed, and the worker never outlives
the collector."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from cloud.collector.counters import Counters
from cloud.collector.settle import Raw, Stopping
from cloud.collector.settle_process import ProcessSettler
from cloud.settings import CloudSettings
from cloud.store.query import Scope, TimeRange
from cloud.store.sqlite_store import SqliteStore
from lineinspect.contract import encode_payload
from lineinspect.testing import MosquittoServer
from lineinspect.testing.ports import free_port
from tests._cloud_helpers import (
    T0_MS,
    CollectorProcess,
    cloud_config,
    event_stream,
    event_topic,
    wait_until,
    write_config,
)


def _batch(n: int, later_by_ms: int = 0, junk_every: int = 0) -> list[Raw]:
    out: list[Raw] = []
    for i, event in enumerate(event_stream(n, t0_ms=T0_MS + later_by_ms)):
        bad = junk_every and i % junk_every == junk_every - 1
        out.append((event_topic(event), b"{not json" if bad else encode_payload(event), 1))
    return out


def _ids(batch: list[Raw]) -> set[str]:
    return {json.loads(p)["event_id"] for _, p, _ in batch if not p.startswith(b"{not")}


def _stored_ids(path: Path) -> list[str]:
    store = SqliteStore(path)
    try:
        records = store.latest_events(Scope(), TimeRange(0, 2**62), 100_000)
        return [r.fields["event_id"] for r in records]
    finally:
        store.close()


def _sqlite_settings(path: Path) -> CloudSettings:
    return CloudSettings.model_validate({"store": {"path": str(path)}})


def test_worker_settles_like_the_collector_and_returns_dead_letters(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    counters = Counters()
    settler = ProcessSettler(_sqlite_settings(path), "c-test", counters)
    settler.start()
    try:
        batch = _batch(300, junk_every=50)
        dead = settler.settle(batch)
    finally:
        settler.close()
    assert [i for i, d in enumerate(dead) if d is not None] == [49, 99, 149, 199, 249, 299]
    assert {d.reason_code for d in dead if d is not None} == {"not_json"}
    assert all(d.collector == "c-test" for d in dead if d is not None)
    stored = _stored_ids(path)
    assert sorted(stored) == sorted(_ids(batch))
    assert counters.get("points_written") == 294  # counted in the worker, moved to the collector


def test_a_worker_killed_mid_batch_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    counters = Counters()
    settler = ProcessSettler(_sqlite_settings(path), "c-test", counters)
    settler.start()
    first, second = _batch(500), _batch(4000, later_by_ms=3_600_000)
    try:
        settler.settle(first)
        victim = settler.pid
        assert victim is not None
        killer = threading.Timer(0.05, os.kill, (victim, signal.SIGKILL))
        killer.start()
        dead = settler.settle(second)  # the worker dies under this batch
        killer.join()
        assert settler.pid not in (None, victim)
    finally:
        settler.close()
    assert dead == [None] * len(second)
    assert counters.get("worker_restarts") == 1
    stored = _stored_ids(path)
    assert len(stored) == len(set(stored))  # a rewritten point overwrites itself
    assert set(stored) == _ids(first) | _ids(second)


def test_abort_ends_a_write_the_store_cannot_take(tmp_path: Path) -> None:
    # InfluxDB "down": nothing listens on the port, so the worker retries until aborted.
    settings = CloudSettings.model_validate({
        "collector": {"retry_min_s": 0.05, "retry_max_s": 0.2},
        "influx": {"api": "v1", "url": f"http://127.0.0.1:{free_port()}", "database": "d",
                   "timeout_s": 1.0},
    })  # fmt: skip
    settler = ProcessSettler(settings, "c-test", Counters())
    settler.start()
    outcome: list[BaseException] = []

    def settle() -> None:
        try:
            settler.settle(_batch(10))
        except Stopping as exc:
            outcome.append(exc)

    runner = threading.Thread(target=settle)
    runner.start()
    time.sleep(1.5)
    assert runner.is_alive()  # still retrying: nothing was stored, so nothing may be acked
    settler.abort()
    runner.join(10)
    settler.close()
    assert not runner.is_alive()
    assert len(outcome) == 1


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.extend(int(t) for t in text)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_worker_dies_with_a_killed_collector(
    mosquitto_session: MosquittoServer, tmp_path: Path
) -> None:
    doc = cloud_config(mosquitto_session, sqlite_path=tmp_path / "s.sqlite3",
                       client_id=f"wk-{tmp_path.name}", share_group=None)  # fmt: skip
    coll = CollectorProcess(write_config(tmp_path / "c.yaml", doc), tmp_path / "c.log")
    coll.start_and_wait()
    assert coll.proc is not None
    pid = coll.proc.pid
    wait_until(lambda: len(_children(pid)) >= 1, 60, "no worker process")
    workers = _children(pid)
    coll.kill()
    wait_until(lambda: not any(_alive(w) for w in workers), 10, "worker outlived the collector")


def test_batches_in_flight_when_the_worker_dies_are_all_settled_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    counters = Counters()
    settler = ProcessSettler(_sqlite_settings(path), "c-test", counters)
    settler.start()
    batches = [_batch(1500, later_by_ms=k * 3_600_000, junk_every=500) for k in range(3)]
    try:
        settler.settle(_batch(1, later_by_ms=-3_600_000))  # the worker is up
        victim = settler.pid
        assert victim is not None
        answers = [settler.submit(b) for b in batches]  # all three with the worker at once
        os.kill(victim, signal.SIGKILL)
        dead = [a.result() for a in answers]
    finally:
        settler.close()
    assert counters.get("worker_restarts") >= 1
    for letters in dead:  # each answer is its own batch's: dead letters at its junk positions
        assert [i for i, d in enumerate(letters) if d is not None] == [499, 999, 1499]
    stored = _stored_ids(path)
    assert len(stored) == len(set(stored))
    assert set(stored) >= set().union(*(_ids(b) for b in batches))
