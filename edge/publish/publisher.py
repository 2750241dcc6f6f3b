"""What the pipeline calls: events in, status changes, stats counters, close. Never blocks.

``publish_event`` validates the event's ids and hands it to a bounded queue (full: the event is
refused, counted per camera as ``drops.publish`` in stats, and ``False`` is returned). A worker
thread (:mod:`edge.publish.pump`) makes it durable in the outbox, raises alarms, and sends.
An event is *accepted* once it is committed to the outbox: :meth:`Publisher.flush` waits for
that, and from then on it survives a crash of this process and any broker outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

from edge.clock import SYSTEM_CLOCK, Clock
from edge.publish.alarms import now_of
from edge.publish.client import MqttClient
from edge.publish.handoff import Handoff
from edge.publish.items import (
    Control,
    EventItem,
    Flush,
    HandoffListener,
    StateItem,
    Stop,
)
from edge.publish.outbox import Outbox
from edge.publish.pump import PublishConfig, Pump, PumpCounters
from edge.publish.station import Station
from edge.publish.stats import StatsCounters
from edge.publish.status import CameraState, StatusTracker, make_status
from lineinspect.contract import Alarm, DefectEvent, ModelRef, TopicKind

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        station: Station,
        client: MqttClient,
        outbox: Outbox,
        config: PublishConfig,
        clock: Clock | None = None,
        on_close: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.station = station
        self.client = client
        self.outbox = outbox
        self.config = config
        self._clock = clock or SYSTEM_CLOCK
        self._on_close = list(on_close)
        self._handoff: Handoff[EventItem, Control] = Handoff(config.outbox.queue_size)
        self._stats = {cam: StatsCounters() for cam in station.cameras}
        self._status = StatusTracker()
        self._pump = Pump(station, client, outbox, self._handoff, config, self._stats,
                          self._clock)
        self._ids = (station.site, station.line, station.station)
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._closed = False

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> Publisher:
        if self._thread is not None:
            raise RuntimeError("publisher already started")
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()
        self.client.start(HandoffListener(self._handoff))
        return self

    def _run(self) -> None:
        try:
            self._pump.run()
        except BaseException as exc:  # keep the reason for close() and health checks
            self._failed = exc
            log.exception("publisher worker stopped")
            raise

    def close(self, drain_s: float | None = None) -> None:
        """Commit everything accepted, keep sending for up to ``drain_s`` (default
        ``outbox.close_drain_s``) while connected, then say ``offline`` and disconnect.
        Whatever is left stays in the outbox for the next start."""
        if self._closed:
            return
        self._closed = True
        self._handoff.close()
        wait = self.config.outbox.close_drain_s if drain_s is None else drain_s
        if self._thread is not None:
            self._handoff.put_control(Stop(wait))
            self._thread.join(timeout=wait + 30.0)
            if self._thread.is_alive():
                log.error("publisher worker did not stop in time")
        self.client.close()
        self.outbox.close()
        for fn in self._on_close:
            fn()

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_alarm_listener(self, listener: Callable[[Alarm], None]) -> None:
        """Call ``listener`` (on the worker thread; it must not block) with every alarm state
        the station publishes: raised, counted up, acknowledged, cleared, restored. Add
        listeners before :meth:`start`."""
        self._pump.alarm_listeners.append(listener)

    # -- hot path ------------------------------------------------------------------------------
    def publish_event(self, event: DefectEvent) -> bool:
        """Queue ``event`` for durable delivery; ``False`` if it was dropped (queue full)."""
        if (event.site, event.line, event.station) != self._ids:
            raise ValueError(
                f"event for {event.site}/{event.line}/{event.station} handed to the publisher "
                f"of {'/'.join(self._ids)}"
            )
        counters = self._stats.get(event.camera)
        if counters is None:
            raise ValueError(
                f"unknown camera {event.camera!r}; this publisher has {list(self._stats)}"
            )
        if self._handoff.put_data(EventItem(event, time.perf_counter())):
            return True
        counters.drop("publish")
        return False

    def set_camera_status(
        self, camera: str, state: CameraState, message: str = "", model: ModelRef | None = None
    ) -> None:
        """Publish the camera's retained status if it changed (durable, like alarms)."""
        if camera not in self._stats:
            raise ValueError(f"unknown camera {camera!r}; this publisher has {list(self._stats)}")
        if not self._status.changed(camera, state, message, model):
            return
        status = make_status(state, now_of(self._clock).wall_ms, message, model)
        topic = self.station.topic(TopicKind.STATUS, camera)
        self._handoff.put_control(StateItem(camera, topic, status.model_dump_json().encode()))

    def stats(self, camera: str) -> StatsCounters:
        """The counters the pipeline fills for ``camera``; published every stats interval."""
        try:
            return self._stats[camera]
        except KeyError:
            raise ValueError(
                f"unknown camera {camera!r}; this publisher has {list(self._stats)}"
            ) from None

    # -- observation ---------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything handed over so far is committed to the outbox."""
        done = threading.Event()
        self._handoff.put_control(Flush(done))
        return done.wait(timeout)

    @property
    def connected(self) -> bool:
        return self.client.connected

    def counters(self) -> dict[str, int]:
        """Totals since start (the outbox backlog: now) for logs, health and tests."""
        c: PumpCounters = self._pump.counters
        out = asdict(c)
        out["accepted"] = self._handoff.accepted
        out["queue_dropped"] = self._handoff.dropped
        out["alarm_acks_ignored"] = self._pump.desk.acks_ignored
        out["bad_messages"] = self._pump.desk.bad_messages
        return out
