"""The alarm machines of a station's cameras, wired to MQTT: incoming acks and the retained-state
restore at start-up. Runs on the publisher's worker thread only."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge.publish.alarms import AlarmMachine, Now, wire_payload
from edge.publish.settings import AlarmSettings
from edge.publish.station import Station
from lineinspect.contract import (
    Alarm,
    AlarmAck,
    AlarmPlain,
    ContractError,
    DefectEvent,
    TopicKind,
    parse_message,
    parse_topic,
)

log = logging.getLogger(__name__)

MAX_PENDING_ACKS = 16


@dataclass(frozen=True, slots=True)
class AlarmOut:
    camera: str
    topic: str
    payload: bytes
    alarm: Alarm


class AlarmDesk:
    def __init__(self, station: Station, rules: AlarmSettings) -> None:
        self.station = station
        self.rules = rules
        self.machines = {cam: AlarmMachine(rules) for cam in station.cameras}
        self._topics = {cam: station.topic(TopicKind.ALARM, cam) for cam in station.cameras}
        self._pending_acks: dict[str, list[AlarmAck]] = {cam: [] for cam in station.cameras}
        self.acks_ignored = 0
        self.bad_messages = 0

    @property
    def alarm_topics(self) -> tuple[str, ...]:
        return tuple(self._topics.values())

    @property
    def restore_pending(self) -> bool:
        return self.rules.enabled and not all(m.restored for m in self.machines.values())

    def _out(self, camera: str, alarm: Alarm | None) -> list[AlarmOut]:
        if alarm is None:
            return []
        payload = wire_payload(alarm, self.rules.payload)
        return [AlarmOut(camera, self._topics[camera], payload, alarm)]

    # -- inputs --------------------------------------------------------------------------------
    def on_event(self, ev: DefectEvent, now: Now) -> list[AlarmOut]:
        return self._out(ev.camera, self.machines[ev.camera].on_event(ev, now))

    def tick(self, now: Now) -> list[AlarmOut]:
        out: list[AlarmOut] = []
        for cam, machine in self.machines.items():
            out += self._out(cam, machine.tick(now))
        return out

    def next_deadline(self) -> float | None:
        times = [t for m in self.machines.values() if (t := m.next_deadline()) is not None]
        return min(times) if times else None

    def finish_restore(self, now: Now) -> list[AlarmOut]:
        """No retained alarm arrived in time for these cameras: nothing was pending."""
        out: list[AlarmOut] = []
        for cam, machine in self.machines.items():
            if not machine.restored:
                out += self._out(cam, machine.restore(None, now))
                out += self._apply_pending(cam, now)
        return out

    def on_message(self, topic: str, payload: bytes, retain: bool, now: Now) -> list[AlarmOut]:
        try:
            address = parse_topic(topic)
        except ContractError:
            return []
        cam = address.camera
        if cam not in self.machines:
            return []
        if address.kind is TopicKind.ALARM:
            return self._on_retained_alarm(cam, topic, payload, retain, now)
        if address.kind is not TopicKind.ALARM_ACK:
            return []
        if retain:
            # A retained ack would clear every future alarm on reconnect; refuse it.
            self.acks_ignored += 1
            log.warning("ignoring a retained ack on %s: acks must not be retained", topic)
            return []
        try:
            msg = parse_message(topic, payload)
        except ContractError as exc:
            self.bad_messages += 1
            log.warning("ignoring a bad ack on %s: %s", topic, exc)
            return []
        assert isinstance(msg.payload, AlarmAck)
        ack = msg.payload
        if ack.by:
            log.info("alarm ack on %s by %s", cam, ack.by)
        machine = self.machines[cam]
        if not machine.restored:
            # The broker hands queued acks over before our retained alarm arrives; apply them
            # after the restore, or they would hit an alarm that is not there yet.
            pending = self._pending_acks[cam]
            if len(pending) < MAX_PENDING_ACKS:
                pending.append(ack)
            return []
        return self._out(cam, machine.on_ack(ack, now))

    def _on_retained_alarm(
        self, cam: str, topic: str, payload: bytes, retain: bool, now: Now
    ) -> list[AlarmOut]:
        machine = self.machines[cam]
        if not retain or machine.restored:
            return []  # our own live publishes echoed back; only the retained copy says anything
        state: Alarm | AlarmPlain | None
        try:
            parsed = parse_message(topic, payload).payload
            state = parsed if isinstance(parsed, Alarm | AlarmPlain) else None
        except ContractError as exc:
            self.bad_messages += 1
            log.warning("retained alarm on %s is not valid (%s); starting cleared", topic, exc)
            state = None
        if state is not None and getattr(state, "active", False):
            log.info("restored the latched alarm of %s from the broker", cam)
        out = self._out(cam, machine.restore(state, now))
        return out + self._apply_pending(cam, now)

    def _apply_pending(self, cam: str, now: Now) -> list[AlarmOut]:
        out: list[AlarmOut] = []
        for ack in self._pending_acks[cam]:
            out += self._out(cam, self.machines[cam].on_ack(ack, now))
        self._pending_acks[cam].clear()
        return out
