"""The checked-in JSON Schema files are exactly what the models generate, and they accept the
documented examples and refuse what the contract refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lineinspect.contract.schema import REGENERATE, SCHEMAS, drift, main, render

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "schema"


def test_checked_in_schema_matches_the_models() -> None:
    problems = drift(SCHEMA_DIR)
    assert not problems, "JSON Schema drifted:\n" + "\n".join(problems) + f"\nrun: {REGENERATE}"


def test_drift_is_detected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--write", str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "event.v1.json").write_text(render("event.v1").replace("999", "998"))
    (tmp_path / "stale.v0.json").write_text("{}")
    capsys.readouterr()
    assert main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "event.v1.json: differs" in err and "stale.v0.json" in err and REGENERATE in err


def load(stem: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{stem}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.mark.parametrize("stem", sorted(SCHEMAS))
def test_examples_validate_against_their_schema(stem: str) -> None:
    schema = load(stem)
    assert schema["examples"]
    for example in schema["examples"]:
        jsonschema.validate(example, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("stem", sorted(SCHEMAS))
def test_schema_refuses_extra_fields_and_other_versions(stem: str) -> None:
    schema = load(stem)
    example = schema["examples"][0]
    for bad in ({**example, "unexpected": 1}, {**example, "v": 2}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
