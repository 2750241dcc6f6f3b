"""Defect rates: new defects over parts or frames inspected, per bucket and group (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cloud.store.query import CountRow, GroupKey, InspectedRow


@dataclass(frozen=True)
class RateRow:
    bucket_us: int
    group: dict[str, str]
    defects: int
    frames_inspected: int
    parts_seen: int
    per_part: float | None
    per_frame: float | None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den > 0 else None


def join_rates(
    counts: Sequence[CountRow],
    inspected: Sequence[InspectedRow],
    group_by: Sequence[GroupKey],
) -> list[RateRow]:
    """One row per (bucket, group) that has defects or inspections. The denominators carry no
    class, so a per-class rate divides that class's defects by everything inspected in the
    same bucket and scope; a bucket with inspections and no defects of a class still appears
    (rate 0) only when ``class`` is not grouped on, since its classes are unknown."""
    den_keys = [k for k in group_by if k != "class"]

    def den_key(bucket: int, group: dict[str, str]) -> tuple[object, ...]:
        return (bucket, *(group.get(k, "") for k in den_keys))

    dens = {den_key(r.bucket_us, r.group): r for r in inspected}
    rows: dict[tuple[object, ...], RateRow] = {}
    for c in counts:
        d = dens.get(den_key(c.bucket_us, c.group))
        frames = d.frames_inspected if d else 0
        parts = d.parts_seen if d else 0
        key = (c.bucket_us, *(c.group.get(k, "") for k in group_by))
        rows[key] = RateRow(
            c.bucket_us,
            dict(c.group),
            c.defects,
            frames,
            parts,
            _ratio(c.defects, parts),
            _ratio(c.defects, frames),
        )
    if "class" not in group_by:
        for d in inspected:
            key = (d.bucket_us, *(d.group.get(k, "") for k in group_by))
            if key not in rows:
                rows[key] = RateRow(
                    d.bucket_us,
                    {k: d.group.get(k, "") for k in group_by},
                    0,
                    d.frames_inspected,
                    d.parts_seen,
                    _ratio(0, d.parts_seen),
                    _ratio(0, d.frames_inspected),
                )
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], tuple(map(str, k[1:]))))]
