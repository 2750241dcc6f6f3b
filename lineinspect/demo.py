"""``lineinspect demo``: the whole path on one laptop, no root, no services.

Embedded MQTT broker (loopback) → edge agent on the synthetic conveyor with the shipped model
(events, alarms, status, stats published through the durable outbox; viewer and API served) →
cloud collector → embedded SQLite store → query API. Prints one line per event and where to
look; runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

HELP = """\
Run the whole product locally: an embedded MQTT broker on 127.0.0.1, the edge agent on the
synthetic conveyor video with the shipped detector, the cloud collector writing to an embedded
SQLite store, the edge viewer/API and the cloud query API. One line per defect event is
printed. Ctrl-C stops everything cleanly. Nothing listens beyond 127.0.0.1.
"""


def _print_event(event: Any) -> None:
    b = event.box
    print(f"{event.ts}  {event.camera}  {event.kind:<6} {event.class_name:<7} "
          f"track {event.track_id:<4} conf {event.confidence:.2f}  severity {event.severity:<6} "
          f"box ({b.x1:.0f},{b.y1:.0f})-({b.x2:.0f},{b.y2:.0f})", flush=True)


def run_demo(workdir: Path, edge_port: int, cloud_port: int, seconds: float | None,
             stop: threading.Event | None = None) -> int:
    from cloud.cli import run_cloud
    from cloud.settings import CloudSettings
    from edge.publish.embedded_broker import EmbeddedBroker
    from edge.run import run_edge
    from edge.settings import EdgeSettings

    stop = stop or threading.Event()
    workdir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker().start()
    mqtt = {"url": broker.url, "protocol": "3.1.1", "reconnect_max_s": 2.0}
    edge = EdgeSettings(
        site="demo", line="line1", station="station1",
        cameras=[{"id": "cam1", "source": {"kind": "synthetic", "seed": 7, "fps": 15}}],
        mqtt={**mqtt, "client_id": "lineinspect-demo-edge"},
        outbox={"path": workdir / "outbox.sqlite3"},
        stats={"interval_s": 5},
        api={"host": "127.0.0.1", "port": edge_port},
    )
    cloud = CloudSettings(
        # amqtt has no shared subscriptions ($share/... would match nothing): one collector,
        # plain subscription.
        collector={"mqtt": {**mqtt, "client_id": "lineinspect-demo-collector"},
                   "share_group": None},
        store={"path": workdir / "store.sqlite3"},
        api={"host": "127.0.0.1", "port": cloud_port},
    )
    cloud_thread = threading.Thread(target=run_cloud, args=(cloud, stop), name="demo-cloud")
    cloud_thread.start()
    print(f"lineinspect demo: broker {broker.url}; data in {workdir}\n"
          f"  live viewer:  http://127.0.0.1:{edge_port}/   (edge API docs at /docs)\n"
          f"  query API:    http://127.0.0.1:{cloud_port}/docs  (defect counts, rates, events)\n"
          f"  MQTT:         mosquitto_sub -h 127.0.0.1 -p {broker.url.rsplit(':', 1)[1]} "
          f"-V mqttv311 -t 'lineinspect/v1/#' -v\n"
          "Ctrl-C to stop.", flush=True)
    timer = None
    if seconds is not None:
        timer = threading.Timer(seconds, stop.set)
        timer.start()
    try:
        from edge.pipeline.sinks import CallbackSink

        rc = run_edge(edge, stop=stop, extra_sinks=[CallbackSink("print", _print_event)])
    finally:
        stop.set()
        if timer is not None:
            timer.cancel()
        cloud_thread.join(30)
        broker.close()
    return rc


def _handler(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return run_demo(args.workdir, args.edge_port, args.cloud_port, args.seconds, stop)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="broker + edge + collector + store on this machine",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("var/demo"),
                   help="outbox and store files (default var/demo)")
    p.add_argument("--edge-port", type=int, default=8080, help="viewer/API port (default 8080)")
    p.add_argument("--cloud-port", type=int, default=8090, help="query API port (default 8090)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.set_defaults(handler=_handler)

