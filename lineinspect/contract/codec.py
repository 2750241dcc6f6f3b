"""Bytes <-> typed messages: the one validating entry point every subscriber uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeAlias

from pydantic import ValidationError

from lineinspect.contract.errors import ContractError
from lineinspect.contract.topics import TopicAddress, TopicKind, parse_topic
from lineinspect.contract.v1 import (
    SCHEMA_VERSION,
    Alarm,
    AlarmAck,
    AlarmPlain,
    Availability,
    DeadLetter,
    DefectEvent,
    Stats,
    Status,
)

MAX_PAYLOAD_BYTES = 262_144
"""Largest payload any v1 topic carries. A producer drops an event's optional mask rather than
exceed it."""

MAX_REASON_ERRORS = 5

Payload: TypeAlias = (
    DefectEvent | Alarm | AlarmPlain | AlarmAck | Status | Stats | Availability | DeadLetter
)

_JSON_MODEL: dict[TopicKind, type[DefectEvent | Alarm | AlarmAck | Status | Stats | DeadLetter]] = {
    TopicKind.EVENTS: DefectEvent,
    TopicKind.ALARM: Alarm,
    TopicKind.ALARM_ACK: AlarmAck,
    TopicKind.STATUS: Status,
    TopicKind.STATS: Stats,
    TopicKind.DEADLETTER: DeadLetter,
}
_PLAIN_ACKS = frozenset({"1", "ack"})


@dataclass(frozen=True)
class Message:
    address: TopicAddress
    payload: Payload


def encode_payload(payload: Payload) -> bytes:
    """Wire bytes of ``payload``: compact UTF-8 JSON, or the plain text of plain-mode kinds."""
    if isinstance(payload, AlarmPlain | Availability):
        return payload.to_bytes()
    return payload.model_dump_json().encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # in C; runs for every JSON object of every payload
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:MAX_REASON_ERRORS]:
        path = ".".join(str(p) for p in err["loc"]) or "(payload)"
        parts.append(f"{path}: {err['msg']}")
    more = exc.error_count() - MAX_REASON_ERRORS
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def _load_json(text: str) -> dict[str, Any]:
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ContractError("not_json", f"payload is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ContractError("invalid", f"payload must be a JSON object, got {type(obj).__name__}")
    return obj


def _check_version(obj: dict[str, Any]) -> None:
    if "v" not in obj:
        raise ContractError("unsupported_version", "missing schema version field 'v'")
    v = obj["v"]
    if type(v) is not int or v != SCHEMA_VERSION:
        raise ContractError(
            "unsupported_version",
            f"schema version v={json.dumps(v)[:32]} is not supported "
            f"(this build understands v={SCHEMA_VERSION})",
        )


def _plain(kind: TopicKind, text: str) -> Payload | None:
    word = text.strip()
    if kind is TopicKind.AVAILABILITY:
        if word not in ("online", "offline"):
            raise ContractError(
                "invalid", f"availability must be 'online' or 'offline', got {word[:32]!r}"
            )
        return Availability(state=word)  # type: ignore[arg-type]
    if kind is TopicKind.ALARM and word in ("0", "1"):
        return AlarmPlain(active=word == "1")
    if kind is TopicKind.ALARM_ACK and word.lower() in _PLAIN_ACKS:
        return AlarmAck(v=1)
    return None


def parse_message(topic: str, payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> Message:
    """Validate one MQTT message; return it typed or raise :class:`ContractError` (only)."""
    address = parse_topic(topic)
    if len(payload) > max_bytes:
        raise ContractError("oversize", f"payload is {len(payload)} bytes, limit {max_bytes}")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("not_utf8", f"payload is not UTF-8: {exc}") from None
    plain = _plain(address.kind, text)
    if plain is not None:
        return Message(address, plain)
    obj = _load_json(text)
    _check_version(obj)
    model = _JSON_MODEL[address.kind]
    try:
        parsed = model.model_validate(obj)
    except ValidationError as exc:
        raise ContractError("invalid", _format_validation(exc)) from None
    if isinstance(parsed, DefectEvent):
        ids = (parsed.site, parsed.line, parsed.station, parsed.camera)
        if ids != (address.site, address.line, address.station, address.camera):
            raise ContractError(
                "topic_mismatch",
                f"event names {'/'.join(ids)} but was published under "
                f"{address.site}/{address.line}/{address.station}/{address.camera}",
            )
    return Message(address, parsed)
