"""docs/mqtt.md stays true: every JSON example in it is accepted by ``parse_message`` and every
topic it lists is one the code builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lineinspect.contract import ContractError, TopicKind, build_topic, parse_message

DOC = Path(__file__).resolve().parents[1] / "docs" / "mqtt.md"
TEXT = DOC.read_text(encoding="utf-8")
JSON_BLOCKS = re.findall(r"```json\n(.*?)```", TEXT, flags=re.S)
IDS = ("plant1", "line3", "st2", "cam1")


def topic_for(kind: TopicKind) -> str:
    if kind is TopicKind.DEADLETTER:
        return build_topic(kind)
    if kind is TopicKind.AVAILABILITY:
        return build_topic(kind, *IDS[:3])
    return build_topic(kind, *IDS)


def test_doc_has_an_example_of_every_json_payload() -> None:
    kinds = set()
    for block in JSON_BLOCKS:
        for kind in TopicKind:
            try:
                parse_message(topic_for(kind), block.encode())
            except ContractError:
                continue
            kinds.add(kind)
    assert kinds >= {
        TopicKind.EVENTS, TopicKind.ALARM, TopicKind.ALARM_ACK, TopicKind.STATUS,
        TopicKind.STATS, TopicKind.DEADLETTER,
    }  # fmt: skip


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=[b[:30] for b in JSON_BLOCKS])
def test_every_json_example_is_valid(block: str) -> None:
    errors = []
    for kind in TopicKind:
        try:
            parse_message(topic_for(kind), block.encode())
            return
        except ContractError as exc:
            errors.append(f"{kind.value}: {exc}")
    pytest.fail("example accepted by no topic:\n" + "\n".join(errors))


def test_documented_topics_are_the_built_ones() -> None:
    documented = set(re.findall(r"`(lineinspect/v1/[^`]*)`", TEXT))
    for kind in TopicKind:
        concrete = topic_for(kind)
        template = (
            concrete.replace(IDS[3], "{camera}")
            .replace(IDS[2], "{station}")
            .replace(IDS[1], "{line}")
            .replace(IDS[0], "{site}")
        )
        assert template in documented, f"{kind.value}: {template} is not in docs/mqtt.md"


def test_plain_payloads_are_documented() -> None:
    for word in ("`online`", "`offline`", "`1`", "`0`", "`ack`"):
        assert word in TEXT
    for kind, raw in ((TopicKind.AVAILABILITY, b"offline"), (TopicKind.ALARM, b"0"),
                      (TopicKind.ALARM_ACK, b"ack")):  # fmt: skip
        parse_message(topic_for(kind), raw)
