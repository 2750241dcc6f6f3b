"""UUIDv7 generation: layout, time order, monotonicity under a stuck or stepping-back clock."""

from __future__ import annotations

import threading
import uuid

import pytest

from lineinspect.contract.ids import (
    Uuid7Generator,
    compose_uuid7,
    is_uuid7,
    uuid7,
    uuid7_str,
    uuid7_unix_ms,
)


class StepClock:
    """A hand-driven millisecond clock."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_layout_version_variant_and_timestamp() -> None:
    u = compose_uuid7(1_763_794_391_123, 0)
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    assert uuid7_unix_ms(u) == 1_763_794_391_123
    assert is_uuid7(str(u))


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("019aaa56-9053-748d-8567-89abcdef0123", True),
        ("019AAA56-9053-748D-8567-89ABCDEF0123", False),  # canonical form is lower-case
        ("019aaa56-9053-448d-8567-89abcdef0123", False),  # version 4
        ("019aaa56-9053-748d-c567-89abcdef0123", False),  # wrong variant
        ("019aaa56-9053-748d-8567-89abcdef0123\n", False),
        ("019aaa5690537 48d856789abcdef0123", False),
        ("", False),
    ],
)
def test_is_uuid7(text: str, ok: bool) -> None:
    assert is_uuid7(text) is ok


def test_real_clock_ids_embed_now() -> None:
    import time

    before = time.time_ns() // 1_000_000
    u = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_unix_ms(u) <= after
    assert is_uuid7(uuid7_str())


def test_same_millisecond_is_strictly_increasing_as_strings() -> None:
    gen = Uuid7Generator(clock_ms=StepClock(1_000), random74=lambda: 5)
    ids = [gen.next_str() for _ in range(1000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 1000
    assert all(uuid7_unix_ms(i) == 1_000 for i in ids)


def test_clock_stepping_back_never_inverts_order() -> None:
    clock = StepClock(5_000)
    gen = Uuid7Generator(clock_ms=clock, random74=lambda: 1 << 40)
    first = gen.next()
    clock.ms = 4_000  # NTP correction
    second = gen.next()
    clock.ms = 6_000
    third = gen.next()
    assert str(first) < str(second) < str(third)
    assert uuid7_unix_ms(second) == 5_000
    assert uuid7_unix_ms(third) == 6_000


def test_random_part_overflow_advances_the_timestamp() -> None:
    gen = Uuid7Generator(clock_ms=StepClock(7), random74=lambda: (1 << 74) - 1)
    a, b = gen.next(), gen.next()
    assert uuid7_unix_ms(a) == 7 and uuid7_unix_ms(b) == 8
    assert str(a) < str(b)


def test_unique_across_threads() -> None:
    gen = Uuid7Generator()
    out: list[list[str]] = [[] for _ in range(4)]

    def work(i: int) -> None:
        out[i].extend(gen.next_str() for _ in range(2000))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for chunk in out for i in chunk]
    assert len(set(ids)) == len(ids)
    for chunk in out:  # each thread sees increasing ids
        assert chunk == sorted(chunk)


@pytest.mark.parametrize(("ms", "rand"), [(-1, 0), (1 << 48, 0), (0, 1 << 74), (0, -1)])
def test_compose_rejects_out_of_range(ms: int, rand: int) -> None:
    with pytest.raises(ValueError):
        compose_uuid7(ms, rand)


def test_unix_ms_rejects_other_versions() -> None:
    with pytest.raises(ValueError, match="not a UUIDv7"):
        uuid7_unix_ms(uuid.uuid4())
