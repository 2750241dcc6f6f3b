"""Every MQTT topic of the v1 contract: one builder, one parser, and the delivery rules.

Layout::

    lineinspect/v1/{site}/{line}/{station}/availability          station-level
    lineinspect/v1/{site}/{line}/{station}/{camera}/events       camera-level
    lineinspect/v1/{site}/{line}/{station}/{camera}/alarm
    lineinspect/v1/{site}/{line}/{station}/{camera}/alarm/ack
    lineinspect/v1/{site}/{line}/{station}/{camera}/status
    lineinspect/v1/{site}/{line}/{station}/{camera}/stats
    lineinspect/v1/_deadletter                                   collector's rejects

Ids must start with a letter or digit, so the ``_deadletter`` segment can never clash with a
site id, and a station-level topic (6 segments) can never be mistaken for a camera-level one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import Enum

from lineinspect.contract.errors import ContractError

TOPIC_ROOT = "lineinspect/v1"
DEADLETTER_TOPIC = f"{TOPIC_ROOT}/_deadletter"
MAX_TOPIC_LENGTH = 512

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Site, line, station and camera ids: 1-64 chars of ``A-Z a-z 0-9 _ . -``, no leading symbol.

Topic-safe by construction: no ``/``, ``+``, ``#``, ``$``, spaces or control characters.
"""
_ID_RE = re.compile(ID_PATTERN)


class TopicKind(str, Enum):
    EVENTS = "events"
    ALARM = "alarm"
    ALARM_ACK = "alarm/ack"
    STATUS = "status"
    STATS = "stats"
    AVAILABILITY = "availability"
    DEADLETTER = "deadletter"


@dataclass(frozen=True)
class Delivery:
    qos: int
    retain: bool


DELIVERY: dict[TopicKind, Delivery] = {
    TopicKind.EVENTS: Delivery(qos=1, retain=False),
    TopicKind.ALARM: Delivery(qos=1, retain=True),
    # An ack must never be retained: a retained ack would silently acknowledge the next alarm
    # the moment the edge reconnects.
    TopicKind.ALARM_ACK: Delivery(qos=1, retain=False),
    TopicKind.STATUS: Delivery(qos=1, retain=True),
    TopicKind.STATS: Delivery(qos=0, retain=False),
    TopicKind.AVAILABILITY: Delivery(qos=1, retain=True),
    TopicKind.DEADLETTER: Delivery(qos=1, retain=False),
}

_CAMERA_KINDS = frozenset(
    {TopicKind.EVENTS, TopicKind.ALARM, TopicKind.ALARM_ACK, TopicKind.STATUS, TopicKind.STATS}
)


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.fullmatch(value))


def check_id(what: str, value: str) -> str:
    """Return ``value`` if it is a valid topic id, else raise ``ValueError`` naming ``what``."""
    if not _ID_RE.fullmatch(value):
        raise ValueError(
            f"{what} id {value!r} is not topic-safe: use 1-64 characters from A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class TopicAddress:
    """A parsed topic. ``camera`` is ``None`` for station-level kinds; all ids empty for dead
    letters."""

    kind: TopicKind
    site: str = ""
    line: str = ""
    station: str = ""
    camera: str | None = None

    @property
    def delivery(self) -> Delivery:
        return DELIVERY[self.kind]


def build_topic(
    kind: TopicKind,
    site: str = "",
    line: str = "",
    station: str = "",
    camera: str | None = None,
) -> str:
    """The topic for ``kind``; raises ``ValueError`` on an unsafe id or a missing/extra camera."""
    if kind is TopicKind.DEADLETTER:
        return DEADLETTER_TOPIC
    base = "/".join(
        (TOPIC_ROOT, check_id("site", site), check_id("line", line), check_id("station", station))
    )
    if kind is TopicKind.AVAILABILITY:
        if camera is not None:
            raise ValueError("availability is a station-level topic; pass no camera")
        return f"{base}/{kind.value}"
    if camera is None:
        raise ValueError(f"{kind.value} is a camera-level topic; a camera id is required")
    return f"{base}/{check_id('camera', camera)}/{kind.value}"


# A subscriber sees the same few hundred topics over and over (cameras x kinds); only valid
# ones are cached (lru_cache does not keep exceptions), so junk cannot crowd them out.
@functools.lru_cache(maxsize=4096)
def parse_topic(topic: str) -> TopicAddress:
    """Inverse of :func:`build_topic`; raises :class:`ContractError` for any other topic."""
    if len(topic) > MAX_TOPIC_LENGTH:
        raise ContractError("bad_topic", f"topic longer than {MAX_TOPIC_LENGTH} characters")
    if topic == DEADLETTER_TOPIC:
        return TopicAddress(TopicKind.DEADLETTER)
    prefix = TOPIC_ROOT + "/"
    if not topic.startswith(prefix):
        raise ContractError("bad_topic", f"topic {topic!r} is not under {prefix!r}")
    parts = topic[len(prefix) :].split("/")
    if len(parts) == 4 and parts[3] == TopicKind.AVAILABILITY.value:
        ids, camera, suffix = parts[:3], None, TopicKind.AVAILABILITY.value
    elif len(parts) in (5, 6):
        ids, camera, suffix = parts[:3], parts[3], "/".join(parts[4:])
    else:
        raise ContractError("bad_topic", f"topic {topic!r} does not match any v1 topic layout")
    try:
        kind = TopicKind(suffix)
    except ValueError:
        raise ContractError("bad_topic", f"unknown topic suffix {suffix!r} in {topic!r}") from None
    if camera is not None and kind not in _CAMERA_KINDS:
        raise ContractError("bad_topic", f"{suffix!r} is not a camera-level topic: {topic!r}")
    for what, value in zip(("site", "line", "station", "camera"), (*ids, camera), strict=True):
        if value is not None and not _ID_RE.fullmatch(value):
            raise ContractError("bad_topic", f"{what} id {value!r} in topic is not a valid id")
    return TopicAddress(kind, ids[0], ids[1], ids[2], camera)


def subscription_filter(kind: TopicKind, share_group: str | None = None) -> str:
    """A wildcard filter matching ``kind`` for every site/line/station(/camera).

    With ``share_group`` the filter becomes an MQTT shared subscription
    (``$share/{group}/...``), so N collector replicas split the stream between them.
    """
    if kind is TopicKind.DEADLETTER:
        filt = DEADLETTER_TOPIC
    elif kind is TopicKind.AVAILABILITY:
        filt = f"{TOPIC_ROOT}/+/+/+/{kind.value}"
    else:
        filt = f"{TOPIC_ROOT}/+/+/+/+/{kind.value}"
    if share_group is None:
        return filt
    return f"$share/{check_id('share group', share_group)}/{filt}"
