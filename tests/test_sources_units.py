"""Pure parts of the sources: mailbox, FFmpeg option plumbing, naming, settings."""

from __future__ import annotations

import os
import threading
import time

import pytest
from pydantic import TypeAdapter, ValidationError

from edge.sources.ffmpeg_env import EnvGate, capture_options, redact_url
from edge.sources.folder import natural_key
from edge.sources.frame import Stamper
from edge.sources.mailbox import LatestMailbox, MailboxClosed
from edge.sources.settings import RtspSource, SourceSettings, SyntheticSource


@pytest.mark.parametrize(("names", "ordered"), [
    (["img10.png", "img2.png", "img1.png"], ["img1.png", "img2.png", "img10.png"]),
    (["b", "A", "a2"], ["A", "a2", "b"]),
    (["cam1_0100.png", "cam1_0099.png", "cam2_0001.png"],
     ["cam1_0099.png", "cam1_0100.png", "cam2_0001.png"]),
    (["7.png", "x.png", "10.png"], ["x.png", "7.png", "10.png"]),
])
def test_natural_order(names: list[str], ordered: list[str]) -> None:
    assert sorted(names, key=natural_key) == ordered


@pytest.mark.parametrize(("url", "shown"), [
    ("rtsp://cam.local/s1", "rtsp://cam.local/s1"),
    ("rtsp://admin:secret@10.0.0.5:554/h264?x=1", "rtsp://admin:***@10.0.0.5:554/h264?x=1"),
    ("rtsps://u:p@host/x", "rtsps://u:***@host/x"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_capture_options_format_and_rejects_separators() -> None:
    assert capture_options({"rtsp_transport": "tcp", "analyzeduration": "500000"}) == \
        "rtsp_transport;tcp|analyzeduration;500000"
    with pytest.raises(ValueError, match="without ';' or '\\|'"):
        capture_options({"a": "b|c"})


def test_env_gate_shares_one_value_and_serialises_different_ones() -> None:
    name = "LINEINSPECT_TEST_GATE"
    os.environ[name] = "user-set"
    gate = EnvGate(name)
    seen: list[str] = []
    try:
        with gate.holding("tcp"), gate.holding("tcp"):  # same value: no waiting
            assert os.environ[name] == "tcp"
            other = threading.Thread(target=lambda: _hold(gate, "udp", name, seen))
            other.start()
            time.sleep(0.2)
            assert seen == [] and os.environ[name] == "tcp"  # "udp" waits for us to leave
        other.join(2)
        assert seen == ["udp"]
        assert os.environ[name] == "user-set"  # restored afterwards
    finally:
        os.environ.pop(name, None)


def _hold(gate: EnvGate, value: str, name: str, seen: list[str]) -> None:
    with gate.holding(value):
        seen.append(os.environ[name])


def test_mailbox_newest_wins_and_counts_drops() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    assert box.put(1) is False
    assert box.put(2) is True
    assert box.put(3) is True
    assert box.get(0) == 3
    assert (box.posted, box.delivered, box.dropped, box.pending) == (3, 1, 2, 0)


def test_mailbox_timeout_is_none_and_end_is_distinct() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    t0 = time.monotonic()
    assert box.get(0.1) is None
    assert 0.09 <= time.monotonic() - t0 < 0.5
    box.put(7)
    box.close()
    assert box.get(0) == 7  # what was already there can still be taken
    with pytest.raises(MailboxClosed):
        box.get(5)


def test_mailbox_close_wakes_a_waiting_consumer() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    threading.Timer(0.1, box.close).start()
    t0 = time.monotonic()
    with pytest.raises(MailboxClosed):
        box.get(None)
    assert time.monotonic() - t0 < 1.0


def test_mailbox_fast_producer_slow_consumer_accounts_for_every_item() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    n = 20_000

    def produce() -> None:
        for i in range(n):
            box.put(i)
        box.close()

    got: list[int] = []
    producer = threading.Thread(target=produce)
    producer.start()
    while True:
        try:
            item = box.get(1.0)
        except MailboxClosed:
            break
        if item is not None:
            got.append(item)
            time.sleep(0.0005)
    producer.join()
    assert got == sorted(set(got))  # strictly increasing: never an older item after a newer one
    assert got[-1] == n - 1  # the last one is never lost
    assert box.delivered + box.dropped == n
    assert box.dropped > 0


class StepClock:
    def __init__(self) -> None:
        self.t = 1_700_000_000_000_000_000

    def wall_ns(self) -> int:
        return self.t

    def mono_ns(self) -> int:
        return self.t - 1_000


def test_stamper_numbers_from_zero_and_uses_the_injected_clock() -> None:
    import numpy as np

    clock = StepClock()
    stamper = Stamper(clock)
    img = np.zeros((4, 6, 3), np.uint8)
    a = stamper.stamp(img)
    clock.t += 5_000_000
    b = stamper.stamp(img)
    assert (a.seq, b.seq) == (0, 1)
    assert (b.ts_ns, b.mono_ns, b.ts_ms) == (clock.t, clock.t - 1_000, clock.t // 1_000_000)
    assert (b.width, b.height) == (6, 4)


@pytest.mark.parametrize(("raw", "words"), [
    (dict(kind="rtsp", url="http://cam/x"), "should match pattern"),
    (dict(kind="rtsp", url="rtsp://c/x", reconnect_initial_s=5, reconnect_max_s=1),
     "reconnect_max_s"),
    (dict(kind="rtsp", url="rtsp://c/x", ffmpeg_options={"a": "1|b"}), "no ';' or '|'"),
    (dict(kind="rtsp", url="rtsp://c/x", ffmpeg_options={"rtsp_transport": "udp"}),
     "'transport'"),
    (dict(kind="rtsp", url="rtsp://c/x", transport="http"), "'tcp' or 'udp'"),
    (dict(kind="synthetic", fps=0), "greater than 0"),
    (dict(kind="folder", path="/x", fsp=3), "Extra inputs are not permitted"),
    (dict(kind="webcam"), "does not match any of the expected tags"),
])
def test_settings_reject_bad_input_with_a_clear_message(raw: dict[str, object],
                                                        words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        TypeAdapter(SourceSettings).validate_python(raw)


def test_settings_select_kind() -> None:
    adapter: TypeAdapter[SourceSettings] = TypeAdapter(SourceSettings)
    assert isinstance(adapter.validate_python({"kind": "synthetic"}), SyntheticSource)
    rtsp = adapter.validate_python({"kind": "rtsp", "url": "rtsp://c/x"})
    assert isinstance(rtsp, RtspSource) and rtsp.transport == "tcp"
