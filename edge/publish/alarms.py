"""The PLC alarm of one camera: raise, latch or auto-clear, acknowledge, rate limit, restore.

A pure state machine: events, acks and ticks go in with the time, payloads to publish come out.
No I/O and no clock of its own, so every rule is tested by feeding it a script. Semantics are
the ones documented in ``docs/mqtt.md`` (section "PLC alarm"):

* A defect raises when it matches all of ``classes``/``severities``/``zones`` (empty: any) on its
  ``new`` event, or on an ``update`` whose severity rose. Each defect raises at most once.
* The first raise is published at once. While active, later raises only add to ``count``;
  those re-publishes are rate-limited to one per ``min_interval_s`` (the last count is always
  published eventually). Transitions (raise, clear) are never delayed.
* ``clear: ack`` latches until an ack; ``clear: auto`` clears ``auto_clear_s`` after the last
  raising defect (an ack clears it earlier). An ack naming an ``event_id`` only clears that alarm.
* At start the machine does not know the state the PLC sees. The agent reads its own retained
  alarm and calls :meth:`AlarmMachine.restore`: a latched alarm stays latched across restarts;
  otherwise a ``cleared_by: startup`` state is published. Anything the machine did before the
  restore wins over the (older) retained message.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from edge.clock import Clock
from edge.publish.settings import AlarmSettings
from lineinspect.contract import (
    Alarm,
    AlarmAck,
    AlarmPlain,
    DefectEvent,
    Severity,
    format_ts,
    uuid7_str,
)

_RANK: dict[Severity, int] = {"low": 0, "medium": 1, "high": 2}
_MAX_TRACKED_DEFECTS = 4096  # defects whose severity/raised flag we remember (LRU)
MAX_CODE = 65535


@dataclass(frozen=True, slots=True)
class Now:
    """One instant on both clocks: ``mono`` (seconds, for timers) and ``wall_ms`` (for ``ts``)."""

    mono: float
    wall_ms: int


def now_of(clock: Clock) -> Now:
    return Now(clock.mono_ns() / 1e9, clock.wall_ns() // 1_000_000)


def alarm_code(class_name: str, class_id: int, codes: dict[str, int]) -> int:
    """The PLC code of a class: ``alarms.codes`` if set, else ``class_id + 1`` (never 0)."""
    return codes.get(class_name, min(class_id + 1, MAX_CODE))


def matches(ev: DefectEvent, rules: AlarmSettings) -> bool:
    return (
        (not rules.classes or ev.class_name in rules.classes)
        and (not rules.severities or ev.severity in rules.severities)
        and (not rules.zones or (ev.zone is not None and ev.zone in rules.zones))
    )


@dataclass
class _Defect:
    severity: Severity
    raised: bool


class AlarmMachine:
    def __init__(self, rules: AlarmSettings) -> None:
        self.rules = rules
        self.restored = False
        self._published_any = False
        self._current: Alarm | None = None  # last state decided (published or pending)
        self._last_raise_mono = 0.0
        self._last_publish_mono: float | None = None
        self._dirty = False  # a count update held back by the rate limit
        self._defects: OrderedDict[str, _Defect] = OrderedDict()

    # -- queries ---------------------------------------------------------------------------
    @property
    def state(self) -> Alarm | None:
        """The alarm as last decided (``None`` before the first decision)."""
        return self._current

    @property
    def active(self) -> bool:
        return self._current is not None and self._current.active

    def next_deadline(self) -> float | None:
        """Monotonic time at which :meth:`tick` has something to do, if any."""
        times: list[float] = []
        if self._dirty and self._last_publish_mono is not None:
            times.append(self._last_publish_mono + self.rules.min_interval_s)
        if self.active and self.rules.clear == "auto":
            times.append(self._last_raise_mono + self.rules.auto_clear_s)
        return min(times) if times else None

    # -- inputs ----------------------------------------------------------------------------
    def on_event(self, ev: DefectEvent, now: Now) -> Alarm | None:
        if not self.rules.enabled or not self._raises(ev):
            return None
        self._last_raise_mono = now.mono
        cur = self._current
        if cur is None or not cur.active:
            self._current = Alarm(
                v=1,
                active=True,
                code=alarm_code(ev.class_name, ev.class_id, self.rules.codes),
                class_name=ev.class_name,
                severity=ev.severity,
                zone=ev.zone,
                event_id=ev.defect_id,
                count=1,
                ts=ev.ts,
                ts_ms=ev.ts_ms,
            )
            return self._publish(now)
        self._current = cur.model_copy(update={"count": cur.count + 1})
        if self.rules.payload == "plain":
            return None  # a plain "1" again tells the PLC nothing new
        if self._rate_limited(now):
            self._dirty = True
            return None
        return self._publish(now)

    def on_ack(self, ack: AlarmAck, now: Now) -> Alarm | None:
        """Clear the active alarm; ``None`` if nothing is active or the ack names another alarm."""
        cur = self._current
        if cur is None or not cur.active:
            return None
        if ack.event_id is not None and ack.event_id != cur.event_id:
            return None
        return self._clear("ack", now)

    def tick(self, now: Now) -> Alarm | None:
        cur = self._current
        if (
            cur is not None
            and cur.active
            and self.rules.clear == "auto"
            and now.mono >= self._last_raise_mono + self.rules.auto_clear_s
        ):
            return self._clear("timeout", now)
        if self._dirty and not self._rate_limited(now):
            return self._publish(now)
        return None

    def restore(self, retained: Alarm | AlarmPlain | None, now: Now) -> Alarm | None:
        """Adopt the state the broker kept from our previous run, or publish ``startup``.

        Only the first call counts, and only if this machine has published nothing yet: anything
        decided since start is newer than the retained message.
        """
        if self.restored:
            return None
        self.restored = True
        if self._published_any or not self.rules.enabled:
            return None
        if isinstance(retained, AlarmPlain) and retained.active:
            retained = _plain_restored(now)
        if isinstance(retained, Alarm) and retained.active:
            self._current = retained
            self._last_raise_mono = now.mono  # auto-clear counts from the restart
            self._published_any = True
            self._last_publish_mono = now.mono
            return None  # the broker already holds exactly this state
        self._current = _inactive(None, "startup", now)
        return self._publish(now)

    # -- internals -------------------------------------------------------------------------
    def _raises(self, ev: DefectEvent) -> bool:
        known = self._defects.get(ev.defect_id)
        if ev.kind == "end":
            self._defects.pop(ev.defect_id, None)
            return False
        if known is None:
            known = _Defect(ev.severity, raised=False)
            self._defects[ev.defect_id] = known
            while len(self._defects) > _MAX_TRACKED_DEFECTS:
                self._defects.popitem(last=False)
            rose = ev.kind == "new"
        else:
            self._defects.move_to_end(ev.defect_id)
            rose = _RANK[ev.severity] > _RANK[known.severity]
            known.severity = ev.severity
        if known.raised or not rose or not matches(ev, self.rules):
            return False
        known.raised = True
        return True

    def _rate_limited(self, now: Now) -> bool:
        last = self._last_publish_mono
        return last is not None and now.mono - last < self.rules.min_interval_s

    def _clear(self, why: Literal["ack", "timeout"], now: Now) -> Alarm:
        cur = self._current
        self._current = _inactive(cur.event_id if cur is not None else None, why, now)
        return self._publish(now)

    def _publish(self, now: Now) -> Alarm:
        assert self._current is not None
        self._dirty = False
        self._published_any = True
        self._last_publish_mono = now.mono
        return self._current


def _inactive(event_id: str | None, why: Literal["ack", "timeout", "startup"], now: Now) -> Alarm:
    return Alarm(
        v=1,
        active=False,
        code=0,
        event_id=event_id,
        count=0,
        cleared_by=why,
        ts=format_ts(now.wall_ms),
        ts_ms=now.wall_ms,
    )


def _plain_restored(now: Now) -> Alarm:
    # A plain "1" carries no details: keep it latched under a generic code and a fresh id, so
    # a plain ack (no event_id) clears it and the PLC bit stays up until then.
    return Alarm(
        v=1,
        active=True,
        code=1,
        class_name="unknown",
        severity="high",
        event_id=uuid7_str(),
        count=1,
        ts=format_ts(now.wall_ms),
        ts_ms=now.wall_ms,
    )


def wire_payload(alarm: Alarm, mode: Literal["json", "plain"]) -> bytes:
    """The bytes to publish: compact JSON, or ``1``/``0`` in plain mode."""
    if mode == "plain":
        return AlarmPlain(active=alarm.active).to_bytes()
    return alarm.model_dump_json().encode()
