"""``lineinspect cloud run --config FILE``: the collector and the query API in one process."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn

    from cloud.settings import CloudSettings

log = logging.getLogger("lineinspect.cloud")

HELP = """\
Run the cloud side: the collector (MQTT -> InfluxDB or the embedded SQLite store, at least
once, no duplicates) and the query API (OpenAPI at http://HOST:PORT/docs). Stops cleanly on
SIGTERM/SIGINT: the pending batch is written and acknowledged, the MQTT session is kept so
the broker queues messages until the collector is back.
"""


def register(subparsers: Any) -> None:
    cloud = subparsers.add_parser("cloud", help="cloud side: collector and query API")
    sub = cloud.add_subparsers(dest="cloud_command", metavar="COMMAND", required=True)
    run = sub.add_parser(
        "run", help="run the collector and the query API", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_run_arguments(run)
    run.set_defaults(handler=_run)
    retire = sub.add_parser(
        "retire", help="drain and end a removed replica's MQTT session (scale-down)",
        description=RETIRE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    retire.add_argument("--config", "-c", type=Path, required=True, help="cloud settings YAML")
    retire.add_argument("--client-id", required=True, help="client id of the removed replica")
    retire.add_argument("--quiet-s", type=float, default=5.0,
                        help="done once nothing arrived for this long (default 5)")
    retire.add_argument("--timeout-s", type=float, default=3600.0)
    retire.set_defaults(handler=_retire)


RETIRE_HELP = """\
Scale-down step. A collector replica's MQTT session outlives the replica: the broker keeps
routing its share of the shared subscription to it (Mosquitto 2.0) until the session expires,
and then discards it. After removing a replica for good, run this with its client id: it
resumes the session, leaves the subscription (new messages go to the other replicas), writes
everything the broker had queued for it, and ends the session. Exit 0 when drained.
"""


def _load(path: Path) -> CloudSettings | None:
    """The settings, with logging set up from them; None (the reason printed) if invalid."""
    from cloud.settings import load_cloud_settings
    from lineinspect.config.errors import ConfigError
    from lineinspect.logsetup import setup_logging

    try:
        settings = load_cloud_settings(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None
    setup_logging(settings.logging)
    return settings


def _retire(args: argparse.Namespace) -> int:
    from cloud.collector.service import Collector

    settings = _load(args.config)
    if settings is None:
        return 1
    drained = Collector(settings, client_id=args.client_id).retire(args.quiet_s, args.timeout_s)
    return 0 if drained else 3


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--config", "-c", type=Path, required=True, help="cloud settings YAML")
    run.add_argument("--no-api", action="store_true", help="collector only")
    run.add_argument("--no-collector", action="store_true", help="query API only")
    run.add_argument("--client-id", help="MQTT client id (overrides collector.mqtt.client_id)")


def collector_main(argv: list[str]) -> int:
    """``python -m cloud.collector``: the collector alone, without the other areas' CLIs."""
    parser = argparse.ArgumentParser(prog="python -m cloud.collector", description=HELP)
    add_run_arguments(parser)
    return _run(parser.parse_args(["--no-api", *argv]))


def _run(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return 1
    if args.no_api and args.no_collector:
        print("--no-api and --no-collector leave nothing to run", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    return run_cloud(settings, stop, api=not args.no_api, collector=not args.no_collector,
                     client_id=args.client_id)  # fmt: skip


def run_cloud(
    settings: CloudSettings,
    stop: threading.Event,
    *,
    api: bool = True,
    collector: bool = True,
    client_id: str | None = None,
) -> int:
    """Run until ``stop`` is set; used by the CLI and by ``lineinspect demo``."""
    from cloud.collector.service import Collector

    server = _start_api(settings) if api else None
    coll = Collector(settings, client_id=client_id) if collector else None
    try:
        if coll is not None:
            coll.run(stop)
        else:
            stop.wait()
    finally:
        if server is not None:
            server.should_exit = True
    return 0


def _start_api(settings: CloudSettings) -> uvicorn.Server:
    import uvicorn

    from cloud.api.app import create_app
    from cloud.store.factory import build_query_store
    from lineinspect.cors import add_cors

    token = settings.api.token.get_secret_value() if settings.api.token else None
    app = create_app(build_query_store(settings), token=token)
    # The API is read-only: other origins' dashboards may GET, nothing else.
    add_cors(app, settings.api.cors_origins, ("GET",))
    config = uvicorn.Config(
        app, host=settings.api.host, port=settings.api.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="cloud-api", daemon=True)
    thread.start()
    log.info("query API on http://%s:%d/docs", settings.api.host, settings.api.port)
    return server
