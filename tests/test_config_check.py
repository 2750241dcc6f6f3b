"""``lineinspect config check``: exit codes, one `field.path: reason` line per error, masked
secrets — through the real CLI entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lineinspect.cli import main
from lineinspect.config_cli import detect_role

REPO = Path(__file__).resolve().parents[1]
EDGE: dict[str, Any] = {
    "site": "plant1",
    "line": "line3",
    "station": "st2",
    "cameras": [{"id": "cam1", "source": {"kind": "synthetic"}}],
}


def run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any] | str, *args: str
) -> tuple[int, str, str]:
    path = tmp_path / "cfg.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    code = main(["config", "check", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # unknown key
        ({"mqtt": {"unknown_key": 1}}, "mqtt.unknown_key: Extra inputs are not permitted"),
        # wrong type
        ({"stats": {"interval_s": [1]}}, "stats.interval_s: Input should be a valid number"),
        # missing required field
        ({"cameras": [{"id": "cam1"}]}, "cameras.0.source: Field required"),
        # bad URL
        ({"mqtt": {"url": "http://broker:1883"}}, "mqtt.url: scheme http:// is not supported"),
        (
            {"cameras": [{"id": "c", "source": {"kind": "rtsp", "url": "http://cam"}}]},
            "cameras.0.source.url: ",
        ),
        # negative threshold
        (
            {"detector": {"conf_threshold": -0.1}},
            "detector.conf_threshold: Input should be greater than or equal to 0",
        ),
        # unreadable model path
        ({"detector": {"model": "/nonexistent/model.onnx"}}, "detector.model: file"),
    ],
)
def test_each_error_kind_names_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], expected: str
) -> None:
    code, out, err = run(tmp_path, capsys, {**EDGE, **change})
    assert code == 1
    assert expected in err
    assert out == ""


def test_missing_top_level_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = {k: v for k, v in EDGE.items() if k != "site"}
    code, _, err = run(tmp_path, capsys, data)
    assert code == 1 and "site: Field required" in err


def test_all_errors_one_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = {**EDGE, "mqtt": {"url": "ftp://x", "extra": 1}, "detector": {"conf_threshold": 2}}
    code, _, err = run(tmp_path, capsys, data)
    lines = [line.strip() for line in err.strip().splitlines()]
    assert code == 1
    assert lines[0].endswith("3 errors")
    assert sorted(line.split(":")[0] for line in lines[1:]) == [
        "detector.conf_threshold",
        "mqtt.extra",
        "mqtt.url",
    ]


def test_valid_config_prints_resolved_yaml_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("file-secret-123\n")
    monkeypatch.setenv("LINEINSPECT_API__TOKEN", "env-token-456")
    data = {**EDGE, "mqtt": {"username": "edge", "password_file": str(secret)}}
    code, out, err = run(tmp_path, capsys, data)
    assert code == 0, err
    assert "file-secret-123" not in out + err
    assert "env-token-456" not in out + err
    resolved = yaml.safe_load(out)
    assert resolved["mqtt"]["password"] == "********"
    assert resolved["api"]["token"] == "********"
    assert resolved["mqtt"]["password_file"] == str(secret)
    assert resolved["detector"]["conf_threshold"] == 0.25  # defaults are shown resolved


def test_yaml_error_reports_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(tmp_path, capsys, "site: p\ncameras: [\n  {id: c\n")
    assert code == 1 and "line " in err and "YAML" in err


def test_role_is_detected_or_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert detect_role({"cameras": []}) == "edge"
    assert detect_role({"influx": {}}) == "cloud"
    assert detect_role({"api": {}}) is None
    code, _, err = run(tmp_path, capsys, {"logging": {"level": "INFO"}})
    assert code == 1 and "--role" in err
    code, out, _ = run(tmp_path, capsys, {"logging": {"level": "INFO"}}, "--role", "cloud")
    assert code == 0 and "collector:" in out


def run_installed(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``lineinspect`` console script of this environment, without LINEINSPECT_* vars."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LINEINSPECT_")}
    exe = Path(sys.executable).with_name("lineinspect")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "lineinspect.cli"]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize("name", ["edge.example.yaml", "cloud.example.yaml"])
def test_shipped_examples_pass_through_the_installed_command(name: str) -> None:
    proc = run_installed("config", "check", str(REPO / "deploy/config" / name))
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout.splitlines()[0]


def test_installed_command_exits_nonzero_on_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**EDGE, "detector": {"conf_threshold": -1}}))
    proc = run_installed("config", "check", str(bad))
    assert proc.returncode == 1
    assert "detector.conf_threshold" in proc.stderr
