"""Bad messages never stop the collector: each lands on the dead-letter topic with a reason and
the original bytes, is counted, and good messages keep being stored around it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.collector.service import Collector
from cloud.store.sqlite_store import SqliteStore
from lineinspect.contract import (
    DEADLETTER_TOPIC,
    ContractError,
    TopicKind,
    build_topic,
    encode_payload,
    parse_message,
)
from lineinspect.testing import MosquittoServer, MosquittoSub
from tests._cloud_helpers import (
    LINE,
    SITE,
    STATION,
    Publisher,
    cloud_settings,
    event_topic,
    running_collector,
    stored_event,
    wait_until,
)

TOPIC = build_topic(TopicKind.EVENTS, SITE, LINE, STATION, "cam1")
STATS_TOPIC = build_topic(TopicKind.STATS, SITE, LINE, STATION, "cam1")


def _event_json(**changes: object) -> bytes:
    doc = json.loads(encode_payload(stored_event()))
    doc.update(changes)
    return json.dumps(doc).encode()


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


HAND_MADE: list[tuple[str, str, bytes, str]] = [
    # (name, topic, payload, expected reason_code)
    ("not json", TOPIC, b"this is not json", "not_json"),
    ("empty", TOPIC, b"", "not_json"),
    ("not utf-8", TOPIC, b"\xff\xfe\x00garbage", "not_utf8"),
    ("json array", TOPIC, b"[1, 2, 3]", "invalid"),
    ("json string", TOPIC, b'"hello"', "invalid"),
    ("no version", TOPIC, b'{"kind": "new"}', "unsupported_version"),
    ("future version", TOPIC, _event_json(v=2), "unsupported_version"),
    ("version as text", TOPIC, _event_json(v="1"), "unsupported_version"),
    ("missing field", TOPIC, b'{"v": 1, "kind": "new"}', "invalid"),
    ("unknown field", TOPIC, _event_json(extra="x"), "invalid"),
    ("wrong type", TOPIC, _event_json(confidence="0.9"), "invalid"),
    ("NaN", TOPIC, _event_json().replace(b'"confidence": 0.8', b'"confidence": NaN'), "not_json"),
    ("duplicate key", TOPIC, b'{"v": 1, "v": 1}', "not_json"),
    ("deep nesting", TOPIC, _deep(100_000), "not_json"),
    ("oversize", TOPIC, b"{" + b" " * 300_000 + b"}", "oversize"),
    ("topic mismatch", TOPIC.replace("cam1", "cam9"), encode_payload(stored_event()),
     "topic_mismatch"),
    ("event on stats topic", STATS_TOPIC, encode_payload(stored_event()), "invalid"),
    ("unknown suffix", TOPIC.replace("/events", "/evnets"), encode_payload(stored_event()),
     "bad_topic"),
    ("short topic", "lineinspect/v1/plant1/line3", b"{}", "bad_topic"),
    ("bad id in topic", "lineinspect/v1/plant1/line3/st2/-cam/events", b"{}", "bad_topic"),
    ("unstorable class", TOPIC, encode_payload(stored_event(class_name="odd\\")), "store_rejected"),
]  # fmt: skip


@dataclass
class Rig:
    broker: MosquittoServer
    collector: Collector
    store: SqliteStore
    deadletters: MosquittoSub
    pub: Publisher

    def letters(self) -> list[dict[str, object]]:
        out = []
        for m in self.deadletters.messages:
            try:
                out.append(json.loads(m.payload))
            except ValueError:  # someone else's garbage on the topic
                out.append({})
        return out

    def stored_ids(self) -> set[str]:
        rows = self.store._conn().execute(
            "SELECT json_extract(fields, '$.event_id') AS id FROM points "
            "WHERE measurement = 'defect_events'"
        )
        return {r["id"] for r in rows}


@pytest.fixture(scope="module")
def rig(
    mosquitto_session: MosquittoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rig]:
    tag = uuid.uuid4().hex[:8]
    path = tmp_path_factory.mktemp("deadletter") / "store.sqlite3"
    settings = cloud_settings(
        mosquitto_session, sqlite_path=path, client_id=f"dl-{tag}", share_group=f"dl{tag}",
        flush_interval_ms=50,
    )  # fmt: skip
    store = SqliteStore(path)
    sub = MosquittoSub(mosquitto_session.host, mosquitto_session.port, [DEADLETTER_TOPIC])
    sub.start()
    pub = Publisher(mosquitto_session)
    with running_collector(settings, writer=store) as collector:
        yield Rig(mosquitto_session, collector, store, sub, pub)
    pub.close()
    sub.stop()


def _send_and_check(rig: Rig, messages: list[tuple[str, bytes]], expect: Callable[
        [str, bytes], str | None]) -> None:  # fmt: skip
    """Publish ``messages`` and a valid sentinel event; wait until the sentinel is stored and
    every message expected to be bad has its dead letter."""
    before = len(rig.deadletters.messages)
    sentinel = stored_event()
    infos = [rig.pub.publish(t, p) for t, p in messages]
    infos.append(rig.pub.publish(event_topic(sentinel), encode_payload(sentinel)))
    for info in infos:
        info.wait_for_publish(30)
    expected = [(t, p, expect(t, p)) for t, p in messages]
    n_bad = sum(1 for _, _, code in expected if code is not None)
    wait_until(lambda: sentinel.event_id in rig.stored_ids(), 60, "sentinel event not stored")
    wait_until(lambda: len(rig.deadletters.messages) - before >= n_bad, 60,
               f"expected {n_bad} dead letters")  # fmt: skip
    letters = rig.letters()[before:]
    by_payload: dict[tuple[str, bytes], list[dict[str, object]]] = {}
    for dl in letters:
        if not dl:
            continue
        original = base64.b64decode(str(dl["payload_b64"]))
        by_payload.setdefault((str(dl["topic"]), original), []).append(dl)
    for topic, payload, code in expected:
        if code is None:
            continue
        found = by_payload.get((topic, payload[:65536]))
        assert found, f"no dead letter for {payload[:80]!r} on {topic}"
        dl = found[0]
        assert dl["reason_code"] == code, dl
        assert dl["reason"], dl
        assert dl["payload_bytes"] == len(payload)
        assert dl["collector"] == rig.collector.client_id
    assert rig.collector.pipeline._thread is not None
    assert rig.collector.pipeline._thread.is_alive()


@pytest.mark.parametrize(("name", "topic", "payload", "code"), HAND_MADE, ids=[c[0] for c in
                         HAND_MADE])  # fmt: skip
def test_hand_made_bad_payloads(rig: Rig, name: str, topic: str, payload: bytes, code: str) -> None:
    done_before = rig.collector.counters.get(f"deadletter_{code}")
    _send_and_check(rig, [(topic, payload)], lambda t, p: code)
    # counted once the broker acknowledged the dead letter, which may be just after the
    # subscriber saw it
    wait_until(lambda: rig.collector.counters.get(f"deadletter_{code}") >= done_before + 1, 10)
    assert rig.collector.counters.get(f"deadletter_{code}") == done_before + 1


def _contract_verdict(topic: str, payload: bytes) -> str | None:
    """The reason code the contract gives, or None for a valid message (the oracle)."""
    try:
        parse_message(topic, payload)
    except ContractError as exc:
        return exc.code
    return None


def _mutated_event() -> st.SearchStrategy[bytes]:
    base = json.loads(encode_payload(stored_event()))
    values = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
        st.text(max_size=20), st.lists(st.integers(), max_size=3),
    )  # fmt: skip
    return st.builds(
        lambda key, value, drop: json.dumps(
            {k: (value if k == key else v) for k, v in base.items() if k != drop}
        ).encode(),
        st.sampled_from(sorted(base)),
        values,
        st.sampled_from([*sorted(base), None]),
    )


PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
    _mutated_event(),
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(PAYLOADS, min_size=1, max_size=15))
def test_fuzzed_payloads_never_stop_the_collector(rig: Rig, batch: list[bytes]) -> None:
    _send_and_check(rig, [(TOPIC, p) for p in batch], _contract_verdict)


def test_own_dead_letters_are_not_judged_again(rig: Rig) -> None:
    """The wildcard subscription also sees the dead-letter topic; the collector must not
    answer a dead letter with another one (a loop)."""
    before = len(rig.deadletters.messages)
    _send_and_check(rig, [(TOPIC, b"nope")], lambda t, p: "not_json")
    rig.pub.publish(DEADLETTER_TOPIC, b"garbage on the dead-letter topic").wait_for_publish(10)
    _send_and_check(rig, [], lambda t, p: None)
    # ours, plus the one published straight to the topic; nothing generated from either
    assert len(rig.deadletters.messages) - before == 2
