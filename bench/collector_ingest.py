"""Sustained ingest broker -> InfluxDB: the collector vs a naive subscriber, same run.

Starts a real Mosquitto and a real influxd (Debian's 1.6) on free loopback ports, then:

1. collector, drain (the headline ``events_per_s``): ``python -m cloud.collector`` (MQTT 5
   shared subscription, persistent session, manual acks, batched line-protocol writes) is
   subscribed and stopped; ``--publishers`` processes publish ``--events`` v1 defect events at
   QoS 1, which the broker queues for its session; the collector is started again and timed
   from its reconnection to the moment InfluxDB holds every event. That is broker to InfluxDB
   alone: on a 2-core box, publishers running at the same time take the CPU the collector
   would use, and the figure would be the publishers' as much as the collector's.
2. collector, live (``live_events_per_s``): the same collector running while the publishers
   publish ``2 x --events`` more, timed from the first publish; everything shares the cores.
3. one process: the collector with ``collector.worker_process`` off, drained the same way
   (``one_process_events_per_s``: what the worker process buys).
4. naive: a minimal subscriber (QoS 1, auto-ack, parse, one HTTP write per message, persistent
   session), drained the same way with ``--naive-events``.

The drains of 1, 3 and 4 alternate ``--repeats`` times (each into its own database, each
contender under a new client id) and the medians are reported with every run's figure: this
VM's speed drifts within minutes. The live run is done once, in the first repeat.

Zero loss is checked, not assumed: the stored event ids are read back and compared. The last
line printed is one JSON object with ``events_per_s``, ``naive_events_per_s``, ``sent``,
``stored_unique``, ``lost`` (and more).

Run from the repository root: ``python bench/collector_ingest.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lineinspect.contract import (
    TopicKind,
    Uuid7Generator,
    build_topic,
    encode_payload,
    format_ts,
)
from lineinspect.contract.examples import example_event
from lineinspect.testing import InfluxServer, MosquittoServer

REPO = Path(__file__).resolve().parents[1]

T0_MS = 1_763_794_391_000
PER_FRAME = 3


def make_payloads(worker: int, count: int, first_ms: int = T0_MS) -> list[tuple[str, bytes]]:
    """``count`` valid events from camera ``cam{worker}``, three per frame, frame = 1 ms from
    ``first_ms``."""
    ids = Uuid7Generator()
    base = example_event()
    camera = f"cam{worker}"
    topic = build_topic(TopicKind.EVENTS, base.site, base.line, base.station, camera)
    out = []
    for i in range(count):
        ts = first_ms + i // PER_FRAME
        eid = ids.next_str()
        ev = base.model_copy(update={
            "event_id": eid, "defect_id": eid, "camera": camera, "ts": format_ts(ts),
            "ts_ms": ts, "index_in_frame": i % PER_FRAME, "frame_seq": i // PER_FRAME,
            "track_id": i,
        })  # fmt: skip
        out.append((topic, encode_payload(ev)))
    return out


def publisher(worker: int, count: int, port: int, first_ms: int, go: Any, results: Any) -> None:
    import paho.mqtt.client as mqtt

    payloads = make_payloads(worker, count, first_ms)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{worker}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    go.wait()
    t0 = time.monotonic()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in payloads]
    for info in infos:
        info.wait_for_publish(600)
    results.put((worker, t0, time.monotonic(), count))
    client.disconnect()
    client.loop_stop()


def naive_subscriber(port: int, influx_url: str, db: str, connected: Any, client_id: str,
                     share_group: str | None = None) -> None:
    """The obvious way: subscribe, and for each message parse it and write one point. It keeps
    a persistent session, like the collector, so both can be timed draining the same backlog."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from cloud.store.schema import points_for
    from lineinspect.contract import parse_message

    url = f"{influx_url}/write?" + urllib.parse.urlencode({"db": db, "precision": "u"})

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        for p in points_for(parse_message(msg.topic, msg.payload), 0):
            req = urllib.request.Request(url, data=p.line.encode(), method="POST")
            urllib.request.urlopen(req, timeout=10).read()

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        connected.set()
        prefix = f"$share/{share_group}/" if share_group else ""
        client.subscribe(prefix + "lineinspect/v1/+/+/+/+/events", qos=1)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.on_message = on_message
    client.on_connect = on_connect
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 60
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_forever()


def stored(influx: InfluxServer, db: str) -> int:
    try:
        rows = influx.select('SELECT count("event_id") FROM "defect_events"', db=db)
    except Exception:
        return 0
    return int(rows[0]["count"]) if rows else 0


def stored_ids(influx: InfluxServer, db: str) -> list[str]:
    return [r["event_id"] for r in influx.select('SELECT "event_id" FROM "defect_events"', db)]


def start_publishers(port: int, events: int, publishers: int,
                     first_ms: int = T0_MS) -> tuple[list[Any], Any, Any]:
    ctx = mp.get_context("fork")
    go, results = ctx.Event(), ctx.Queue()
    share = [events // publishers + (i < events % publishers) for i in range(publishers)]
    procs = [ctx.Process(target=publisher, args=(i, n, port, first_ms, go, results))
             for i, n in enumerate(share)]  # fmt: skip
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every publisher build its payloads and connect
    return procs, go, results


def join_publishers(procs: list[Any], results: Any) -> float:
    """Wait for every PUBACK; returns the publishers' combined events/s."""
    pub = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(10)
    return sum(r[3] for r in pub) / (max(r[2] for r in pub) - min(r[1] for r in pub))


def wait_stored(influx: InfluxServer, db: str, events: int, t0: float, timeout: float) -> float:
    """Seconds from ``t0`` until InfluxDB holds ``events`` points (or the timeout)."""
    while stored(influx, db) < events and time.monotonic() < t0 + timeout:
        time.sleep(0.05)
    return time.monotonic() - t0


def live(broker: MosquittoServer, influx: InfluxServer, db: str, events: int, publishers: int,
         timeout: float) -> dict[str, float]:
    """Consumer running while the publishers publish: on a small box they share its cores."""
    before = stored(influx, db)
    # An hour after the drain run's events, so none of them lands on one of its points.
    procs, go, results = start_publishers(broker.port, events, publishers, T0_MS + 3_600_000)
    t0 = time.monotonic()
    go.set()
    seconds = wait_stored(influx, db, before + events, t0, timeout)
    pub_rate = join_publishers(procs, results)
    return {"seconds": seconds, "events_per_s": events / seconds, "publish_events_per_s": pub_rate}


def drain(broker: MosquittoServer, influx: InfluxServer, db: str, events: int, publishers: int,
          start_consumer: Callable[[], Callable[[], bool]], timeout: float) -> dict[str, float]:
    """The backlog way: the broker queues ``events`` for the consumer's persistent session
    while it is down; timed from its reconnection until InfluxDB holds every event. Broker to
    InfluxDB only: no publisher competes for the CPU."""
    procs, go, results = start_publishers(broker.port, events, publishers)
    go.set()
    pub_rate = join_publishers(procs, results)
    connected = start_consumer()
    deadline = time.monotonic() + 180
    while not connected():
        if time.monotonic() > deadline:
            raise RuntimeError("consumer did not connect")
        time.sleep(0.005)
    t0 = time.monotonic()
    seconds = wait_stored(influx, db, events, t0, timeout)
    return {"seconds": seconds, "events_per_s": events / seconds, "publish_events_per_s": pub_rate}


class Collector:
    """``python -m cloud.collector`` as ``args.replicas`` child processes on one shared
    subscription (stable client ids, as in production), logs in ``work``."""

    def __init__(self, broker: MosquittoServer, influx: InfluxServer, work: Path, db: str,
                 args: Any) -> None:
        self.configs: list[Path] = []
        self.logs: list[Path] = []
        for i in range(args.replicas):
            config = {
                "collector": {"mqtt": {"url": broker.url, "client_id": f"{db}-{i}"},
                              "stats_log_interval_s": 5.0,
                              "worker_process": args.worker_process,
                              "share_group": db.replace("_", "-"),
                              # an old contender's session must not keep collecting copies
                              "session_expiry_s": 60},
                "influx": {"api": "v1", "url": influx.url, "database": db,
                           "create_database": True, "batch_size": args.batch_size,
                           "flush_interval_ms": args.flush_ms},
                "logging": {"level": "INFO"},
            }  # fmt: skip
            self.configs.append(work / f"{db}-{i}.yaml")
            self.configs[-1].write_text(yaml.safe_dump(config))
            self.logs.append(work / f"{db}-{i}.log")
        self.procs: list[subprocess.Popen[bytes]] = []

    def _logged(self, text: str) -> bool:
        return all(text in log.read_text() for log in self.logs)

    def start(self) -> Callable[[], bool]:
        for config, log in zip(self.configs, self.logs, strict=True):
            log.write_text("")
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "cloud.collector", "--config", str(config)],
                cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT))  # fmt: skip
        return lambda: self._logged("connected to MQTT")

    def start_subscribed(self) -> None:
        self.start()
        deadline = time.monotonic() + 180
        while not self._logged("subscription active"):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                raise RuntimeError("collector did not start:\n"
                                   + "\n".join(log.read_text() for log in self.logs))
            time.sleep(0.1)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(60)
        self.procs = []


class Naive:
    """``replicas`` naive subscriber processes (on a shared subscription when more than one)."""

    def __init__(self, broker: MosquittoServer, influx: InfluxServer, db: str,
                 replicas: int = 1, index: int = 0) -> None:
        self.args = (broker.port, influx.url, db)
        self.replicas = replicas
        self.index = index
        self.procs: list[Any] = []

    def start(self) -> Callable[[], bool]:
        ctx = mp.get_context("fork")
        events = []
        for i in range(self.replicas):
            connected = ctx.Event()
            events.append(connected)
            group = f"bench-naive-{self.index}" if self.replicas > 1 else None
            self.procs.append(ctx.Process(target=naive_subscriber, args=(
                *self.args, connected, f"bench-naive-{self.index}-{i}", group)))
            self.procs[-1].start()
        return lambda: all(e.is_set() for e in events)

    def start_subscribed(self) -> None:
        connected = self.start()
        deadline = time.monotonic() + 120
        while not connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the SUBACK follows the CONNACK closely

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.join(10)
        self.procs = []


def measure(consumer: Any, broker: MosquittoServer, influx: InfluxServer, db: str, events: int,
            args: Any) -> tuple[dict[str, float], dict[str, float] | None, list[str]]:
    """Drain (primary), then optionally live, into one database; returns both and the ids."""
    consumer.start_subscribed()  # creates the persistent session and its subscription
    consumer.stop()
    try:
        d = drain(broker, influx, db, events, args.publishers, consumer.start, args.timeout)
        lv = None
        if args.live:
            lv = live(broker, influx, db, 2 * events, args.publishers, args.timeout)
            # the live run's events are new ids on later timestamps: the count goes to 2x
    finally:
        consumer.stop()
    return d, lv, stored_ids(influx, db)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=30_000, help="events through the collector")
    ap.add_argument("--naive-events", type=int, default=3_000, help="events through the naive one")
    ap.add_argument("--publishers", type=int, default=4, help="publisher processes")
    ap.add_argument("--replicas", type=int, default=1,
                    help="collector processes on the shared subscription (scale-out)")
    ap.add_argument("--naive-replicas", type=int, default=1,
                    help="naive subscriber processes (a shared subscription when > 1)")
    ap.add_argument("--batch-size", type=int, default=5_000)
    ap.add_argument("--flush-ms", type=int, default=1_000)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--live", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the collector while 2x --events are being published")
    ap.add_argument("--worker-process", action=argparse.BooleanOptionalAction, default=True,
                    help="collector.worker_process (the product default: on)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating drains of each contender; medians are reported")
    ap.add_argument("--one-process", action=argparse.BooleanOptionalAction, default=True,
                    help="also drain with worker_process off, same run (one_process_events_per_s)")
    args = ap.parse_args()

    runs: dict[str, list[float]] = {"collector": [], "one_process": [], "naive": []}
    fast_live: dict[str, float] | None = None
    sent = lost = naive_lost = 0
    pub_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="collector-bench-") as tmp:
        work = Path(tmp)
        broker = MosquittoServer(work / "mosquitto", max_queued_messages=1_000_000)
        influx = InfluxServer(work / "influxd")
        broker.start()
        influx.start()
        try:
            # Contenders alternate, each drain into a database of its own: this VM's speed
            # drifts within minutes, so medians of alternating runs, not one run each.
            for r in range(args.repeats):
                db = f"bench_collector_{r}"
                live_now = args.live and r == 0
                run_args = argparse.Namespace(**{**vars(args), "live": live_now})
                fast, lv, ids = measure(Collector(broker, influx, work, db, run_args), broker,
                                        influx, db, args.events, run_args)  # fmt: skip
                fast_live = lv or fast_live
                runs["collector"].append(fast["events_per_s"])
                pub_rates.append(fast["publish_events_per_s"])
                expected = args.events * (3 if lv else 1)
                sent += expected
                lost += expected - len(set(ids))
                if args.one_process and args.worker_process:
                    db = f"bench_one_process_{r}"
                    one_args = argparse.Namespace(**{**vars(args), "live": False,
                                                     "worker_process": False})
                    one, _, one_ids = measure(Collector(broker, influx, work, db, one_args),
                                              broker, influx, db, args.events, one_args)
                    runs["one_process"].append(one["events_per_s"])
                    sent += args.events
                    lost += args.events - len(set(one_ids))
                db = f"bench_naive_{r}"
                influx.create_database(db)
                naive = Naive(broker, influx, db, args.naive_replicas, index=r)
                slow, _, naive_ids = measure(naive, broker, influx, db, args.naive_events,
                                             argparse.Namespace(**{**vars(args), "live": False}))
                runs["naive"].append(slow["events_per_s"])
                naive_lost += args.naive_events - len(set(naive_ids))
                print(f"repeat {r + 1}/{args.repeats}: collector {fast['events_per_s']:.0f}/s, "
                      f"one process {runs['one_process'][-1] if runs['one_process'] else 0:.0f}"
                      f"/s, naive {slow['events_per_s']:.0f}/s", flush=True)  # fmt: skip
        finally:
            broker.stop()
            influx.stop()

    med = {k: statistics.median(v) if v else None for k, v in runs.items()}
    assert med["collector"] is not None and med["naive"] is not None
    result = {
        "events_per_s": round(med["collector"], 1),
        "naive_events_per_s": round(med["naive"], 1),
        "speedup": round(med["collector"] / med["naive"], 1),
        "sent": sent,
        "stored_unique": sent - lost,
        "lost": lost,
        "naive_sent": args.naive_events * args.repeats,
        "naive_lost": naive_lost,
        "live_events_per_s": round(fast_live["events_per_s"], 1) if fast_live else None,
        "live_publish_events_per_s": (round(fast_live["publish_events_per_s"], 1)
                                      if fast_live else None),
        "publish_events_per_s": round(statistics.median(pub_rates), 1),
        "one_process_events_per_s": (round(med["one_process"], 1)
                                     if med["one_process"] is not None else None),
        "runs_events_per_s": [round(x) for x in runs["collector"]],
        "runs_one_process_events_per_s": [round(x) for x in runs["one_process"]],
        "runs_naive_events_per_s": [round(x) for x in runs["naive"]],
        "repeats": args.repeats,
        "worker_process": args.worker_process,
        "publishers": args.publishers,
        "replicas": args.replicas,
        "naive_replicas": args.naive_replicas,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(f"collector: drains {result['events_per_s']} events/s ({args.events} queued events), "
          f"live {result['live_events_per_s']} events/s; naive drains "
          f"{result['naive_events_per_s']} events/s; one process (worker_process off) "
          f"{result['one_process_events_per_s']} events/s; lost {result['lost']}")  # fmt: skip
    print(json.dumps(result))
    return 0 if result["lost"] == 0 and result["naive_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
