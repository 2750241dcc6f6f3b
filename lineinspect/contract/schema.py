"""JSON Schema files of the v1 payloads, generated from the models.

python -m lineinspect.contract.schema --write docs/schema   # regenerate
python -m lineinspect.contract.schema --check docs/schema   # exit 1 if the files drifted
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lineinspect.contract.codec import encode_payload
from lineinspect.contract.examples import (
    example_ack,
    example_alarm,
    example_alarm_cleared,
    example_deadletter,
    example_event,
    example_refined_update,
    example_stats,
    example_status,
)
from lineinspect.contract.v1 import Alarm, AlarmAck, DeadLetter, DefectEvent, Stats, Status

REGENERATE = "python -m lineinspect.contract.schema --write docs/schema"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"

# file stem -> (model, topic suffix, examples)
SCHEMAS: dict[str, tuple[type[BaseModel], str, tuple[BaseModel, ...]]] = {
    "event.v1": (DefectEvent, "{camera}/events", (example_event(), example_refined_update())),
    "alarm.v1": (Alarm, "{camera}/alarm", (example_alarm(), example_alarm_cleared())),
    "alarm-ack.v1": (AlarmAck, "{camera}/alarm/ack", (example_ack(),)),
    "status.v1": (Status, "{camera}/status", (example_status(),)),
    "stats.v1": (Stats, "{camera}/stats", (example_stats(),)),
    "deadletter.v1": (DeadLetter, "_deadletter", (example_deadletter(),)),
}

_NOTE = (
    " Rules that span several fields (listed in docs/mqtt.md, e.g. ts must equal ts_ms) are "
    "checked by lineinspect.contract.parse_message; JSON Schema cannot express them."
)


def build_schema(stem: str) -> dict[str, Any]:
    model, suffix, examples = SCHEMAS[stem]
    body = model.model_json_schema(mode="validation")
    topic = (
        f"lineinspect/v1/{suffix}"
        if suffix.startswith("_")
        else f"lineinspect/v1/{{site}}/{{line}}/{{station}}/{suffix}"
    )
    head: dict[str, Any] = {
        "$schema": _DRAFT,
        "$id": f"urn:lineinspect:schema:{stem}",
        "title": f"lineinspect {model.__name__} (v1), topic {topic}",
    }
    body["description"] = (body.get("description") or "").strip() + _NOTE
    body["examples"] = [json.loads(encode_payload(e)) for e in examples]  # type: ignore[arg-type]
    body.pop("title", None)
    return {**head, **body}


def render(stem: str) -> str:
    return json.dumps(build_schema(stem), indent=2, ensure_ascii=False) + "\n"


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem in SCHEMAS:
        path = folder / f"{stem}.json"
        path.write_text(render(stem), encoding="utf-8")
        written.append(path)
    return written


def drift(folder: Path) -> list[str]:
    """Names of schema files that are missing, stale or unexpected in ``folder``."""
    problems = []
    for stem in SCHEMAS:
        path = folder / f"{stem}.json"
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != render(stem):
            problems.append(f"{path}: differs from the models")
    expected = {f"{stem}.json" for stem in SCHEMAS}
    for path in sorted(folder.glob("*.json")):
        if path.name not in expected:
            problems.append(f"{path}: no model generates this file")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate or check the v1 JSON Schema files.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="DIR", type=Path, help="(re)generate the files in DIR")
    mode.add_argument("--check", metavar="DIR", type=Path, help="exit 1 if DIR has drifted")
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.write):
            print(path)
        return 0
    problems = drift(args.check)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"regenerate with: {REGENERATE}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
