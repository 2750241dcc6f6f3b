"""Store-and-forward against a real Mosquitto that is stopped, killed and restarted, with a
persistent ``mosquitto_sub -c`` at QoS 1 as the independent receiver.

* broker SIGTERM'd for 10 s while >= 5,000 events stream: every event id arrives;
* broker SIGKILL'd: only events the broker had acknowledged but not yet saved may go missing
  (measured and printed; the figure is in docs/mqtt.md);
* the edge process SIGKILL'd while the broker is down, restarted, broker back: every event the
  edge had accepted arrives;
* the outbox byte cap under a long outage, with an exact dropped count;
* after an outage the backlog drains in order at the configured rate while live events flow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.publish.outbox import read_pending
from edge.publish.publisher import Publisher
from lineinspect.contract import DefectEvent
from lineinspect.testing import MosquittoServer, MosquittoSub
from tests._publish_helpers import frame_event, publish_settings, start_publisher, topic

REPO = Path(__file__).resolve().parents[1]
EVENTS = topic("events")
Sub = Callable[..., MosquittoSub]


def received_ids(sub: MosquittoSub) -> list[str]:
    return [json.loads(m.payload)["event_id"] for m in sub.messages if m.topic == EVENTS]


def wait_ids(
    sub: MosquittoSub, want: set[str], timeout: float, settled: Callable[[], bool] | None = None
) -> set[str]:
    """Wait until every id in ``want`` has arrived; return the ones still missing. With
    ``settled`` (e.g. "the edge's outbox is empty"), also stop once it holds and nothing new has
    arrived for 5 s: some ids are expected to stay missing."""
    deadline = time.monotonic() + timeout
    missing = want
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        got = received_ids(sub)
        missing = want - set(got)
        if not missing:
            break
        if len(got) != seen:
            seen, quiet_since = len(got), time.monotonic()
        elif settled is not None and settled() and time.monotonic() - quiet_since > 5.0:
            break
        time.sleep(0.25)
    return missing


def persistent_sub(broker: MosquittoServer, mosquitto_sub: Sub, name: str) -> MosquittoSub:
    sub = mosquitto_sub(broker, EVENTS, client_id=name, clean=False, qos=1)
    # The broker must have the session on disk before it can be killed (autosave every 1 s).
    time.sleep(1.5)
    return sub


class Streamer(threading.Thread):
    """Publishes ``n`` events at about ``rate`` per second from a pipeline-like thread."""

    def __init__(self, pub: Publisher, n: int, rate: float) -> None:
        super().__init__(name="streamer", daemon=True)
        self.pub, self.n, self.rate = pub, n, rate
        self.events: list[DefectEvent] = []
        self.refused = 0

    def run(self) -> None:
        t0 = time.monotonic()
        for i in range(self.n):
            ev = frame_event(i, severity="low")
            self.events.append(ev)
            if not self.pub.publish_event(ev):
                self.refused += 1
            lag = t0 + (i + 1) / self.rate - time.monotonic()
            if lag > 0:
                time.sleep(lag)


# -- broker outages ---------------------------------------------------------------------------
@pytest.mark.slow
def test_broker_sigterm_for_10s_while_streaming_5000_events_loses_none(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = persistent_sub(mosquitto, mosquitto_sub, "mes-recorder")
    pub = start_publisher(publish_settings(mosquitto, tmp_path / "o.sqlite3",
                                           outbox={"drain_rate_per_s": 2000}))
    try:
        assert pub.client.wait_connected(20)
        stream = Streamer(pub, n=6000, rate=300.0)  # ~20 s
        stream.start()
        time.sleep(4.0)
        mosquitto.stop()  # SIGTERM: mosquitto saves its state and exits
        time.sleep(10.0)
        mosquitto.start()
        stream.join(timeout=120)
        assert stream.refused == 0
        want = {ev.event_id for ev in stream.events}
        missing = wait_ids(sub, want, timeout=180)
        got = received_ids(sub)
        print(f"\nSIGTERM outage: {len(want)} events, {len(got)} received "
              f"({len(got) - len(set(got))} duplicates), {len(missing)} missing; "
              f"publisher {pub.counters()}")
        assert not missing, f"{len(missing)} events never arrived"
        assert sub.subscribe_count >= 2  # the subscriber really was cut off and came back
    finally:
        pub.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("autosave", "extra"),
    [(1, ""), (100, "autosave_on_changes true")],
    ids=["autosave_interval_1s", "autosave_on_changes_100"],
)
def test_broker_sigkill_loses_only_acknowledged_unsaved_events(
    mosquitto_factory: Callable[..., MosquittoServer],
    mosquitto_sub: Sub,
    tmp_path: Path,
    autosave: int,
    extra: str,
) -> None:
    """The hard crash of the broker: what it had acknowledged (so the edge deleted it) but not
    yet written to disk is gone. The subscriber is offline meanwhile (a collector restart),
    so everything sits in the broker's queue for it: the worst case."""
    broker = mosquitto_factory(autosave_interval=autosave, extra_config=extra)
    try:
        sub = persistent_sub(broker, mosquitto_sub, "collector")
        sub.stop()  # offline: the broker queues for its session
        box = tmp_path / "o.sqlite3"
        pub = start_publisher(publish_settings(broker, box, outbox={"drain_rate_per_s": 2000}))
        try:
            assert pub.client.wait_connected(20)
            stream = Streamer(pub, n=3000, rate=300.0)
            stream.start()
            time.sleep(5.0)
            acked_5s = pub.counters()["acked"]
            broker.kill()
            time.sleep(0.5)
            n_before = len(stream.events)
            assert pub.flush(30)
            pending = {json.loads(p)["event_id"] for _, t, p in read_pending(box) if t == EVENTS}
            acked_before_kill = {ev.event_id for ev in stream.events[:n_before]} - pending
            time.sleep(2.0)
            broker.start()
            stream.join(timeout=60)
            sub = mosquitto_sub(broker, EVENTS, client_id="collector", clean=False, qos=1)
            want = {ev.event_id for ev in stream.events}
            missing = wait_ids(sub, want, timeout=120,
                               settled=lambda: pub.counters()["backlog"] == 0)
        finally:
            pub.close()
        print(f"\nSIGKILL ({'autosave_on_changes ' if extra else 'autosave_interval '}"
              f"{autosave}): {len(acked_before_kill)} acknowledged in the "
              f"{acked_5s / 5.0:.0f} ev/s stream before the kill, {len(missing)} lost "
              f"(~{len(missing) / max(acked_5s / 5.0, 1e-9):.2f} s of traffic)")
        assert missing <= acked_before_kill, "an event the broker never acknowledged was lost"
        # Bounded by the autosave policy: one interval of traffic, or one batch of changes.
        # Mosquitto checks autosave_interval in its main loop, so on a loaded box the save runs
        # up to about a second late (seen in CI: 461 lost against a 450 bound at +0.5 s).
        bound = autosave + 50 if extra else (acked_5s / 5.0) * (autosave + 1.5)
        assert len(missing) <= bound
    finally:
        broker.close()  # also stopped by the fixture; harmless twice


# -- edge process killed ----------------------------------------------------------------------
def spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "tests._publish_child", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


class Lines(threading.Thread):
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.lines: list[str] = []
        self.start()

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait(self, pred: Callable[[list[str]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not pred(list(self.lines)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"child said: {self.lines[-5:]}")
            time.sleep(0.05)

    def accepted(self) -> list[str]:
        return [i for line in list(self.lines) if line.startswith("ACCEPTED ")
                for i in line.split()[1:]]


@pytest.mark.slow
def test_edge_killed_while_broker_down_delivers_every_accepted_event_after_restart(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = persistent_sub(mosquitto, mosquitto_sub, "mes-recorder")
    box = str(tmp_path / "o.sqlite3")
    first = spawn("stream", mosquitto.url, box, "4000", "40", "0.02")
    out = Lines(first)
    try:
        out.wait(lambda ls: len([x for x in ls if x.startswith("ACCEPTED")]) >= 10, 60)
        mosquitto.stop()
        n_down = len(out.accepted())
        out.wait(lambda ls: len([x for x in ls if x.startswith("ACCEPTED")]) >= 40, 60)
        first.kill()  # SIGKILL: no flush, no goodbye
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    out.join(5)
    accepted = out.accepted()
    assert len(accepted) - n_down >= 500, "the edge should have queued events while down"
    second = spawn("drain", mosquitto.url, box)
    out2 = Lines(second)
    try:
        out2.wait(lambda ls: "READY" in ls, 60)
        mosquitto.start()
        missing = wait_ids(sub, set(accepted), timeout=120)
        assert not missing, f"{len(missing)} of {len(accepted)} accepted events were lost"
        out2.wait(lambda ls: "DRAINED" in ls, 60)
    finally:
        second.kill()
        second.wait(10)
    print(f"\nedge killed with the broker down: {len(accepted)} accepted "
          f"({len(accepted) - n_down} while the broker was down), all delivered")


def test_last_will_says_offline_when_the_edge_dies(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    avail = "lineinspect/v1/plant1/line3/st2/availability"
    child = spawn("stream", mosquitto.url, str(tmp_path / "o.sqlite3"), "40", "40", "60")
    out = Lines(child)
    try:
        out.wait(lambda ls: any(x.startswith("ACCEPTED") for x in ls), 60)
        sub = mosquitto_sub(mosquitto, avail)
        sub.wait_for(lambda ms: [m.payload for m in ms] == ["online"], 20)
        child.kill()
        # keepalive 10 s in the test settings: the broker gives up after 1.5x that.
        sub.wait_for(lambda ms: [m.payload for m in ms] == ["online", "offline"], 30)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)


# -- the byte cap and the drain ----------------------------------------------------------------
def test_byte_cap_holds_under_a_long_outage_with_an_exact_dropped_count(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    sub = persistent_sub(mosquitto, mosquitto_sub, "mes-recorder")
    mosquitto.stop()
    cap = 1024 * 1024
    box = tmp_path / "o.sqlite3"
    pub = start_publisher(publish_settings(mosquitto, box, outbox={"max_bytes": cap,
                                                                   "synchronous": "normal"}))
    try:
        events = [frame_event(i, severity="low") for i in range(5000)]
        for start in range(0, len(events), 1000):  # the hand-off queue holds 4096
            for ev in events[start:start + 1000]:
                assert pub.publish_event(ev)
            assert pub.flush(60)
        sizes = [len(EVENTS) + len(ev.model_dump_json().encode()) for ev in events]
        keep, total = 0, 0
        for size in reversed(sizes):  # the longest suffix that fits: oldest-first drop
            if total + size > cap:
                break
            total += size
            keep += 1
        counters = pub.counters()
        assert counters["outbox_dropped"] == len(events) - keep
        assert counters["backlog"] == keep and counters["backlog_bytes"] == total <= cap
        assert pub.stats("cam1").take().drops == {"outbox": len(events) - keep}
        wal = Path(f"{box}-wal")
        # The WAL is checkpointed once past 4 MiB: the disk use is bounded too, not just the count.
        assert box.stat().st_size + wal.stat().st_size < cap + 8 * 1024 * 1024
        mosquitto.start()
        want = {ev.event_id for ev in events[-keep:]}
        missing = wait_ids(sub, want, timeout=120)
        assert not missing
        got = set(received_ids(sub))
        assert got.isdisjoint(ev.event_id for ev in events[:-keep])  # dropped means dropped
    finally:
        pub.close()
    # Checkpointed into the database on close: its size is the cap plus page overhead.
    assert box.stat().st_size < 1.5 * cap


def test_backlog_drains_in_order_at_the_set_rate_while_live_events_flow(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    rate = 200.0
    sub = persistent_sub(mosquitto, mosquitto_sub, "mes-recorder")
    pub = start_publisher(publish_settings(mosquitto, tmp_path / "o.sqlite3",
                                           outbox={"drain_rate_per_s": rate}))
    try:
        assert pub.client.wait_connected(20)
        mosquitto.stop()
        time.sleep(0.5)
        backlog = [frame_event(i, severity="low") for i in range(800)]  # 4 s at 200/s
        for ev in backlog:
            assert pub.publish_event(ev)
        assert pub.flush(30)
        mosquitto.start()
        t0 = time.monotonic()
        live: list[DefectEvent] = []
        while time.monotonic() - t0 < 2.0:  # 20 live events/s while the backlog drains
            ev = frame_event(10_000 + len(live), severity="low")
            live.append(ev)
            pub.publish_event(ev)
            time.sleep(0.05)
        want = {ev.event_id for ev in backlog + live}
        assert not wait_ids(sub, want, timeout=60)
        elapsed = time.monotonic() - t0
        order = received_ids(sub)
        back_ids = [ev.event_id for ev in backlog]
        first_seen = [i for i in dict.fromkeys(order) if i in set(back_ids)]
        assert first_seen == back_ids  # the backlog replays in its original order
        pos = {i: n for n, i in reversed(list(enumerate(order)))}
        last_backlog = max(pos[i] for i in back_ids)
        assert min(pos[ev.event_id] for ev in live) < last_backlog  # live did not wait
        # Paced: 800 events at 200/s take about 4 s (minus one burst), not a flood.
        assert elapsed >= (len(backlog) - rate / 10) / rate * 0.8
    finally:
        pub.close()


def test_a_hung_broker_holds_nothing_back_after_it_resumes(
    mosquitto: MosquittoServer, mosquitto_sub: Sub, tmp_path: Path
) -> None:
    """SIGSTOP: the socket stays open but nothing answers. The in-flight window fills, the rest
    waits in the outbox, the pipeline is never blocked; after SIGCONT everything arrives."""
    sub = persistent_sub(mosquitto, mosquitto_sub, "mes-recorder")
    pub = start_publisher(publish_settings(mosquitto, tmp_path / "o.sqlite3"))
    try:
        assert pub.client.wait_connected(20)
        mosquitto.pause()
        events = [frame_event(i, severity="low") for i in range(500)]
        t0 = time.perf_counter()
        assert all(pub.publish_event(ev) for ev in events)
        assert time.perf_counter() - t0 < 5.0  # hand-over only; nothing waits for the broker
        assert pub.flush(30)
        time.sleep(3.0)
        assert pub.counters()["backlog"] == len(events)  # none acknowledged while hung
        mosquitto.resume()
        assert not wait_ids(sub, {ev.event_id for ev in events}, timeout=60)
    finally:
        mosquitto.resume()
        pub.close()
