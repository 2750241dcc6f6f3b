"""EventFeed: writers never wait; readers get what they missed counted, not silently lost."""

from __future__ import annotations

import asyncio
import threading
import time

from edge.api.feed import EventFeed, LiveStats
from lineinspect.contract import DefectEvent
from lineinspect.contract.examples import example_alarm, example_event


def _event(i: int) -> DefectEvent:
    return example_event().model_copy(update={"track_id": i})


def test_a_new_client_gets_the_recent_events_then_live_ones() -> None:
    async def body() -> None:
        feed = EventFeed(capacity=5)
        for i in range(3):
            feed.push_event(_event(i))
        sub = feed.subscribe(asyncio.get_running_loop())
        assert sub is not None
        assert await sub.wait(1)
        read = sub.read()
        assert [e.track_id for _, e in read.events] == [0, 1, 2] and read.dropped == 0
        # A write from another thread wakes the waiting client.
        threading.Timer(0.05, lambda: feed.push_event(_event(3))).start()
        assert await sub.wait(5)
        assert [e.track_id for _, e in sub.read().events] == [3]
        assert not await sub.wait(0.05)  # nothing new: times out
        feed.unsubscribe(sub)
        assert feed.clients == 0

    asyncio.run(body())


def test_a_slow_client_loses_the_oldest_events_and_the_loss_is_counted() -> None:
    async def body() -> None:
        feed = EventFeed(capacity=4)
        sub = feed.subscribe(asyncio.get_running_loop())
        assert sub is not None
        for i in range(10):
            feed.push_event(_event(i))
        read = sub.read()
        assert [e.track_id for _, e in read.events] == [6, 7, 8, 9]
        assert read.dropped == 6 and sub.dropped == 6 and feed.client_drops == 6

    asyncio.run(body())


def test_reconnect_with_last_event_id_replays_only_what_was_missed() -> None:
    async def body() -> None:
        feed = EventFeed(capacity=10)
        for i in range(6):
            feed.push_event(_event(i))
        sub = feed.subscribe(asyncio.get_running_loop(), after=4)
        assert sub is not None
        assert [s for s, _ in sub.read().events] == [5, 6]
        late = feed.subscribe(asyncio.get_running_loop(), after=999)  # from a restarted edge
        assert late is not None and late.read().events == []

    asyncio.run(body())


def test_alarm_and_live_stats_are_reported_once_per_change() -> None:
    async def body() -> None:
        feed = EventFeed()
        sub = feed.subscribe(asyncio.get_running_loop())
        assert sub is not None
        first = sub.read()
        assert first.alarm is None and first.live is None
        feed.set_alarm(example_alarm())
        feed.set_live("cam1", LiveStats(fps=14.9, latency_ms=61.0))
        read = sub.read()
        assert read.alarm is not None and read.alarm.active
        assert read.live == {"cam1": LiveStats(fps=14.9, latency_ms=61.0)}
        again = sub.read()
        assert again.alarm is None and again.live is None

    asyncio.run(body())


def test_client_limit() -> None:
    async def body() -> None:
        feed = EventFeed(max_clients=2)
        loop = asyncio.get_running_loop()
        assert feed.subscribe(loop) is not None and feed.subscribe(loop) is not None
        assert feed.subscribe(loop) is None

    asyncio.run(body())


def test_push_never_waits_for_clients() -> None:
    async def body() -> float:
        feed = EventFeed(capacity=100)
        subs = [feed.subscribe(asyncio.get_running_loop()) for _ in range(20)]
        assert all(s is not None for s in subs)
        event = _event(1)
        t0 = time.perf_counter()
        for _ in range(2000):  # nobody reads: writers still return at once
            feed.push_event(event)
        return (time.perf_counter() - t0) / 2000

    per_push = asyncio.run(body())
    assert per_push < 0.002, f"push_event took {per_push * 1e6:.0f} us"


def test_no_wake_up_is_lost_when_writers_race_the_reader() -> None:
    """Bursts from another thread while the client reads: every event arrives (a lost wake-up
    would leave the client asleep with events waiting)."""
    total = 3000

    async def body() -> int:
        feed = EventFeed(capacity=total)
        sub = feed.subscribe(asyncio.get_running_loop())
        assert sub is not None
        event = _event(0)

        def writer() -> None:
            for i in range(total):
                feed.push_event(event)
                if i % 7 == 0:
                    time.sleep(0)  # let the reader run mid-burst

        thread = threading.Thread(target=writer)
        thread.start()
        got = 0
        while got < total:
            if not await sub.wait(5):
                break  # asleep with nothing coming: a lost wake-up if events are waiting
            got += len(sub.read().events)
        thread.join()
        return got

    for _ in range(5):
        assert asyncio.run(body()) == total
