"""The publisher's one worker thread: hand-off → alarms → durable outbox → MQTT → PUBACK → delete.

One thread owns the SQLite connection, the alarm machines and the flow control, so none of them
needs a lock. It wakes on anything arriving in the hand-off (events, PUBACKs, acks, connection
changes) or when a timer is due (backlog pacing, alarm auto-clear, rate limit, stats).

Each wake-up: build the messages for new events (and any alarm they raise), append them all in
one transaction (one fsync), release ``flush()`` callers, delete what the broker acknowledged,
then hand the client as many rows as the window and the pacing allow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from edge.clock import Clock
from edge.publish.alarm_desk import AlarmDesk, AlarmOut
from edge.publish.alarms import Now, now_of
from edge.publish.flow import FlowControl, Inflight
from edge.publish.handoff import Drained
from edge.publish.items import (
    Connected,
    Control,
    Disconnected,
    EventItem,
    Flush,
    Incoming,
    Published,
    PublisherHandoff,
    StateItem,
    Stop,
    Subscribed,
)
from edge.publish.outbox import EVENTS, STATE, NewMessage, Outbox, OutboxError
from edge.publish.settings import AlarmSettings, OutboxSettings, StatsSettings
from edge.publish.station import Station
from edge.publish.stats import StatsCounters, build_stats
from lineinspect.contract import MAX_PAYLOAD_BYTES, Alarm, TopicKind

log = logging.getLogger(__name__)

IDLE_WAKE_S = 1.0
RETRY_AFTER_S = 1.0
# PUBACK reason codes worth another try: unspecified/implementation error, packet id in use,
# quota exceeded. Anything else >= 0x80 (not authorised, bad topic, bad payload) is permanent.
RETRYABLE = frozenset({0x80, 0x83, 0x91, 0x97})
MAX_LATENCY_META = 10_000



class Publishing(Protocol):
    """What the worker needs from the MQTT client (``edge.publish.client.MqttClient``)."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int: ...
    def subscribe(self, topics: tuple[str, ...]) -> int | None: ...
    def unsubscribe(self, topics: tuple[str, ...]) -> None: ...

@dataclass(frozen=True)
class PublishConfig:
    outbox: OutboxSettings
    alarms: AlarmSettings
    stats: StatsSettings


@dataclass
class PumpCounters:
    """Read from other threads for reports; plain ints, written only by the worker."""

    committed: int = 0
    sent: int = 0
    acked: int = 0
    rejected: int = 0
    retried: int = 0
    outbox_dropped: int = 0
    masks_dropped: int = 0
    oversize_dropped: int = 0
    stats_published: int = 0
    stats_dropped: int = 0
    outbox_errors: int = 0
    backlog: int = 0
    backlog_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _Pending:
    msg: NewMessage
    camera: str | None
    t0: float | None
    stage: str


class Pump:
    def __init__(
        self,
        station: Station,
        client: Publishing,
        outbox: Outbox,
        handoff: PublisherHandoff,
        config: PublishConfig,
        counters: dict[str, StatsCounters],
        clock: Clock,
    ) -> None:
        self.station = station
        self.client = client
        self.outbox = outbox
        self.handoff = handoff
        self.config = config
        self.stats = counters
        self.clock = clock
        self.flow = FlowControl(config.outbox.drain_rate_per_s, config.outbox.max_inflight)
        self.desk = AlarmDesk(station, config.alarms)
        self.counters = PumpCounters(backlog=outbox.count, backlog_bytes=outbox.nbytes)
        self.connected = False
        self._events_topic = {c: station.topic(TopicKind.EVENTS, c) for c in station.cameras}
        self._stats_topic = {c: station.topic(TopicKind.STATS, c) for c in station.cameras}
        self._meta: dict[int, tuple[str | None, float | None, str]] = {}
        self._restore_mid: int | None = None
        self._restore_deadline: float | None = None
        self._stop_at: float | None = None
        start = now_of(clock).mono
        self._stats_from = start
        self._next_stats = start + config.stats.interval_s
        self.alarm_listeners: list[Callable[[Alarm], None]] = []

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            got = self.handoff.take(self._timeout())
            self.step(got)
            if self._stop_at is not None and self._finished():
                return

    def step(self, got: Drained[EventItem, Control]) -> None:
        now = now_of(self.clock)
        pending: list[_Pending] = []
        for item in got.data:
            pending += self._from_event(item, now)
        acked: list[int] = []
        flushes: list[Flush] = []
        for ctl in got.control:
            pending += self._control(ctl, now, acked, flushes)
        pending += self._tick(now)
        self._commit(pending)
        for f in flushes:
            f.done.set()
        if acked:
            self._delete(acked)
        if self.connected:
            self._send(now)
        if now.mono >= self._next_stats:
            self._publish_stats(now)

    def _timeout(self) -> float:
        now = now_of(self.clock).mono
        times = [self._next_stats, now + IDLE_WAKE_S]
        if self.connected and (w := self.flow.wait_s(now)) is not None:
            times.append(now + w)
        if (t := self.desk.next_deadline()) is not None:
            times.append(t)
        if self._restore_deadline is not None:
            times.append(self._restore_deadline)
        if self._stop_at is not None:
            times.append(min(self._stop_at, now + 0.05))
        return max(0.0, min(times) - now)

    def _finished(self) -> bool:
        assert self._stop_at is not None
        if self.handoff.pending:
            return False
        if not self.connected or self.outbox.count == 0:
            return True
        return now_of(self.clock).mono >= self._stop_at

    # -- inputs --------------------------------------------------------------------------------
    def _from_event(self, item: EventItem, now: Now) -> list[_Pending]:
        ev = item.event
        payload = ev.model_dump_json().encode()
        if len(payload) > MAX_PAYLOAD_BYTES and ev.mask is not None:
            # Contract: drop the optional mask rather than exceed the payload limit.
            self.counters.masks_dropped += 1
            payload = ev.model_copy(update={"mask": None}).model_dump_json().encode()
        out: list[_Pending] = []
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.counters.oversize_dropped += 1
            self.stats[ev.camera].drop("publish")
            log.error("event %s is %d bytes even without its mask; dropped", ev.event_id,
                      len(payload))
        else:
            msg = NewMessage(EVENTS, self._events_topic[ev.camera], payload, 1, False)
            out.append(_Pending(msg, ev.camera, item.t0, "publish"))
        if ev.kind == "new":
            self.stats[ev.camera].defect(ev.class_name)
        for a in self._heard(self.desk.on_event(ev, now)):
            out.append(_Pending(NewMessage(STATE, a.topic, a.payload, 1, True), a.camera,
                                item.t0, "alarm"))
        return out

    def _control(
        self, ctl: Control, now: Now, acked: list[int], flushes: list[Flush]
    ) -> list[_Pending]:
        if isinstance(ctl, Published):
            self._on_published(ctl, now, acked)
        elif isinstance(ctl, Connected):
            self.connected = True
            self.flow.connected(self.outbox, ctl.receive_maximum)
            if self.desk.restore_pending and self._restore_mid is None:
                self._restore_mid = self.client.subscribe(self.desk.alarm_topics)
        elif isinstance(ctl, Disconnected):
            self.connected = False
            self._restore_mid = None
            self._restore_deadline = None
        elif isinstance(ctl, Subscribed):
            if ctl.mid == self._restore_mid:
                # The broker sends retained messages right after the SUBACK; wait a little.
                self._restore_deadline = now.mono + self.config.alarms.restore_wait_s
        elif isinstance(ctl, Incoming):
            return self._alarm_pending(self.desk.on_message(ctl.topic, ctl.payload, ctl.retain,
                                                            now))
        elif isinstance(ctl, StateItem):
            msg = NewMessage(STATE, ctl.topic, ctl.payload, 1, True)
            return [_Pending(msg, ctl.camera, None, "status")]
        elif isinstance(ctl, Flush):
            flushes.append(ctl)
        elif isinstance(ctl, Stop):
            self._stop_at = now.mono + ctl.drain_s
        return []

    def _heard(self, outs: list[AlarmOut]) -> list[AlarmOut]:
        for a in outs:
            for listener in self.alarm_listeners:
                try:
                    listener(a.alarm)
                except Exception:  # a viewer's trouble must not stop publishing
                    log.exception("alarm listener failed")
        return outs

    def _alarm_pending(self, outs: list[AlarmOut]) -> list[_Pending]:
        return [_Pending(NewMessage(STATE, a.topic, a.payload, 1, True), a.camera, None, "alarm")
                for a in self._heard(outs)]

    def _on_published(self, ctl: Published, now: Now, acked: list[int]) -> None:
        f = self.flow.inflight.pop(ctl.mid, None)
        if f is None:
            return  # availability, stats (QoS 0): not from the outbox
        if ctl.failure is None:
            acked.append(f.seq)
            self.counters.acked += 1
            if f.t0 is not None and f.camera is not None:
                self.stats[f.camera].latency(f.stage, (ctl.t - f.t0) * 1000.0)
        elif ctl.failure in RETRYABLE:
            self.counters.retried += 1
            log.warning("broker refused seq %d for now (%s); retrying", f.seq, ctl.reason)
            self.flow.retry_later(f.seq, now.mono + RETRY_AFTER_S)
        else:
            # Permanent: re-sending would be refused forever and block nothing but disk.
            self.counters.rejected += 1
            acked.append(f.seq)
            if f.camera is not None:
                self.stats[f.camera].drop("rejected")
            log.error("broker rejected seq %d permanently (%s); dropped", f.seq, ctl.reason)

    def _tick(self, now: Now) -> list[_Pending]:
        out = self.desk.tick(now)
        if self._restore_deadline is not None and now.mono >= self._restore_deadline:
            self._restore_deadline = None
            out += self.desk.finish_restore(now)
            self.client.unsubscribe(self.desk.alarm_topics)
        return self._alarm_pending(out)

    # -- outbox --------------------------------------------------------------------------------
    def _commit(self, pending: list[_Pending]) -> None:
        if not pending:
            return
        try:
            seqs, dropped = self.outbox.append([p.msg for p in pending], self.flow.protected())
        except OutboxError as exc:
            self.counters.outbox_errors += len(pending)
            for p in pending:
                if p.camera is not None:
                    self.stats[p.camera].drop("outbox")
            log.error("%d messages lost: %s", len(pending), exc)
            time.sleep(0.1)  # a full or broken disk must not turn this into a busy loop
            return
        self.counters.committed += len(pending)
        if len(self._meta) < MAX_LATENCY_META:
            for seq, p in zip(seqs, pending, strict=True):
                if seq:
                    self._meta[seq] = (p.camera, p.t0, p.stage)
        for d in dropped:
            self._meta.pop(d.seq, None)
            camera = _camera_of(d.topic)
            if camera in self.stats:
                self.stats[camera].drop("outbox")
        if dropped:
            self.counters.outbox_dropped += len(dropped)
            log.warning("outbox full (%d bytes): dropped the %d oldest messages",
                        self.outbox.max_bytes, len(dropped))
        self._sync_backlog()

    def _delete(self, seqs: list[int]) -> None:
        try:
            self.outbox.delete(seqs)
        except OutboxError as exc:
            log.error("%s (they will be sent again after a restart)", exc)
        self._sync_backlog()

    def _sync_backlog(self) -> None:
        self.counters.backlog = self.outbox.count
        self.counters.backlog_bytes = self.outbox.nbytes

    # -- MQTT ----------------------------------------------------------------------------------
    def _send(self, now: Now) -> None:
        rows = self.flow.due_retries(self.outbox, now.mono)
        rows += self.flow.next_rows(self.outbox, now.mono)
        for row in rows:
            mid = self.client.publish(row.topic, row.payload, row.qos, row.retain)
            camera, t0, stage = self._meta.pop(row.seq, (None, None, "publish"))
            self.flow.inflight[mid] = Inflight(row.seq, camera, t0, stage)
        self.counters.sent += len(rows)

    def _send_stats(self, camera: str, payload: bytes) -> None:
        if self.connected:
            self.client.publish(self._stats_topic[camera], payload, 0, False)
            self.counters.stats_published += 1
        else:
            self.counters.stats_dropped += 1  # QoS 0 by contract: not worth queueing

    def _publish_stats(self, now: Now) -> None:
        interval = max(now.mono - self._stats_from, 1e-3)
        self._stats_from = now.mono
        self._next_stats = now.mono + self.config.stats.interval_s
        for camera, counters in self.stats.items():
            stats = build_stats(counters.take(), interval, now.wall_ms, self.outbox.count)
            self._send_stats(camera, stats.model_dump_json().encode())


def _camera_of(topic: str) -> str | None:
    parts = topic.split("/")
    return parts[5] if len(parts) >= 7 else None
