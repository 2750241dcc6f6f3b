"""Settings loading: YAML + environment overrides, secrets from files, every error by path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud.settings import CloudSettings, load_cloud_settings
from edge.settings import EdgeSettings, load_edge_settings
from lineinspect.config import ConfigError
from lineinspect.config.mqtt import parse_mqtt_url

REPO = Path(__file__).resolve().parents[1]
EDGE_EXAMPLE = REPO / "deploy/config/edge.example.yaml"
CLOUD_EXAMPLE = REPO / "deploy/config/cloud.example.yaml"

MINIMAL_EDGE: dict[str, Any] = {
    "site": "plant1",
    "line": "line3",
    "station": "st2",
    "cameras": [{"id": "cam1", "source": {"kind": "synthetic"}}],
}


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def edge_errors(
    tmp_path: Path, data: dict[str, Any] | str, env: dict[str, str] | None = None
) -> str:
    with pytest.raises(ConfigError) as exc:
        load_edge_settings(write(tmp_path, data), env or {})
    return str(exc.value)


def test_examples_load_and_match_their_comments() -> None:
    edge = load_edge_settings(EDGE_EXAMPLE, {})
    assert isinstance(edge, EdgeSettings)
    assert [c.id for c in edge.cameras] == ["cam1", "cam2"]
    assert edge.mqtt is not None and edge.mqtt.endpoint.port == 1883
    assert edge.alarms.codes["crack"] == 20
    cloud = load_cloud_settings(CLOUD_EXAMPLE, {})
    assert isinstance(cloud, CloudSettings)
    assert cloud.influx is not None and cloud.influx.database == "lineinspect"
    assert cloud.collector.share_group == "lineinspect-collectors"


def test_defaults_mean_embedded_broker(tmp_path: Path) -> None:
    s = load_edge_settings(write(tmp_path, MINIMAL_EDGE), {})
    assert s.mqtt is None
    assert s.tracking_for(s.cameras[0]) is s.tracking
    assert s.detector.model is None


def test_constructing_settings_never_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINEINSPECT_SITE", "from-env")
    assert EdgeSettings.model_validate(MINIMAL_EDGE).site == "plant1"
    assert EdgeSettings(**MINIMAL_EDGE).site == "plant1"


def test_env_overrides_nested_values_and_creates_sections(tmp_path: Path) -> None:
    env = {
        "LINEINSPECT_STATION": "st9",
        "LINEINSPECT_DETECTOR__CONF_THRESHOLD": "0.4",
        "LINEINSPECT_MQTT__URL": "mqtts://broker.plant:8883",
        "LINEINSPECT_MQTT__USERNAME": "edge",
        "LINEINSPECT_MQTT__PASSWORD": "s3cret",
        "LINEINSPECT_ALARMS__CLASSES": '["crack"]',
        "PATH": "/usr/bin",
    }
    s = load_edge_settings(write(tmp_path, MINIMAL_EDGE), env)
    assert s.station == "st9"
    assert s.detector.conf_threshold == 0.4
    assert s.mqtt is not None and s.mqtt.use_tls and s.mqtt.endpoint.port == 8883
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "s3cret"
    assert s.alarms.classes == ["crack"]


def test_env_overrides_list_entries_by_index(tmp_path: Path) -> None:
    env = {"LINEINSPECT_CAMERAS__0__SOURCE__SEED": "7", "LINEINSPECT_CAMERAS__0__MM_PER_PX": "0.5"}
    s = load_edge_settings(write(tmp_path, MINIMAL_EDGE), env)
    assert s.cameras[0].mm_per_px == 0.5
    assert s.cameras[0].source.kind == "synthetic" and s.cameras[0].source.seed == 7
    text = edge_errors(tmp_path, MINIMAL_EDGE, {"LINEINSPECT_CAMERAS__3__ID": "x"})
    assert "cameras.3: no such list entry" in text and "LINEINSPECT_CAMERAS" in text
    cam = '{"source": {"kind": "synthetic"}, "id": '
    cams = f'[{cam}"a"}}, {cam}"b"}}]'
    s = load_edge_settings(write(tmp_path, MINIMAL_EDGE), {"LINEINSPECT_CAMERAS": cams})
    assert [c.id for c in s.cameras] == ["a", "b"]


def test_env_errors_name_the_variable(tmp_path: Path) -> None:
    text = edge_errors(tmp_path, MINIMAL_EDGE, {"LINEINSPECT_MQTT__PASWORD": "x"})
    assert "mqtt.pasword: Extra inputs are not permitted" in text
    assert "LINEINSPECT_MQTT__PASWORD" in text


def test_env_default_is_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEINSPECT_LINE", "line7")
    assert load_edge_settings(write(tmp_path, MINIMAL_EDGE)).line == "line7"
    assert "LINEINSPECT_LINE" in os.environ


def test_secret_from_file_is_read_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt_password"
    secret.write_text("correct horse battery\n")
    data = {**MINIMAL_EDGE, "mqtt": {"username": "edge", "password_file": str(secret)}}
    s = load_edge_settings(write(tmp_path, data), {})
    assert s.mqtt is not None and s.mqtt.password is not None
    assert s.mqtt.password.get_secret_value() == "correct horse battery"
    shown = s.masked_yaml() + repr(s) + str(s)
    assert "correct horse" not in shown
    assert "password: '********'" in s.masked_yaml()


def test_secret_file_problems_name_the_field(tmp_path: Path) -> None:
    missing = {**MINIMAL_EDGE, "mqtt": {"username": "u", "password_file": str(tmp_path / "no")}}
    assert "mqtt.password_file: file" in edge_errors(tmp_path, missing)
    both = tmp_path / "pw"
    both.write_text("x")
    data = {**MINIMAL_EDGE, "mqtt": {"username": "u", "password": "y", "password_file": str(both)}}
    assert "set password or password_file, not both" in edge_errors(tmp_path, data)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    data = {**MINIMAL_EDGE, "mqtt": {"username": "u", "password_file": str(empty)}}
    assert "is empty" in edge_errors(tmp_path, data)


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "transport"),
    [
        ("mqtt://broker", "broker", 1883, False, "tcp"),
        ("tcp://10.0.0.5:1884", "10.0.0.5", 1884, False, "tcp"),
        ("mqtts://broker", "broker", 8883, True, "tcp"),
        ("ssl://broker:9999", "broker", 9999, True, "tcp"),
        ("ws://broker:9001/mqtt", "broker", 9001, False, "websockets"),
        ("wss://broker", "broker", 443, True, "websockets"),
    ],
)
def test_mqtt_urls(url: str, host: str, port: int, tls: bool, transport: str) -> None:
    ep = parse_mqtt_url(url)
    assert (ep.host, ep.port, ep.tls, ep.transport) == (host, port, tls, transport)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://broker", "scheme http:// is not supported"),
        ("broker:1883", "is not supported"),
        ("mqtt://", "no host"),
        ("mqtt://broker:99999", "not a valid URL"),
        ("mqtt://user:pw@broker", "credentials"),
        ("mqtt://broker/path", "no path"),
    ],
)
def test_bad_mqtt_urls_name_the_field(tmp_path: Path, url: str, needle: str) -> None:
    text = edge_errors(tmp_path, {**MINIMAL_EDGE, "mqtt": {"url": url}})
    assert "mqtt.url: " in text and needle in text
    assert "user:pw" not in text  # a URL with credentials is never echoed


def test_topic_ids_are_validated(tmp_path: Path) -> None:
    data = {
        **MINIMAL_EDGE,
        "site": "plant 1",
        "cameras": [{"id": "a/b", "source": {"kind": "synthetic"}}],
    }
    text = edge_errors(tmp_path, data)
    assert "site: 'plant 1' is not a topic-safe id" in text
    assert "cameras.0.id: 'a/b' is not a topic-safe id" in text


def test_duplicate_camera_ids(tmp_path: Path) -> None:
    cam = {"id": "cam1", "source": {"kind": "synthetic"}}
    assert "used twice" in edge_errors(tmp_path, {**MINIMAL_EDGE, "cameras": [cam, cam]})


def test_alarm_zone_must_exist(tmp_path: Path) -> None:
    text = edge_errors(tmp_path, {**MINIMAL_EDGE, "alarms": {"zones": ["nowhere"]}})
    assert "alarms.zones.0: no zone named 'nowhere' (defined: none)" in text


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    data = {
        "site": "p",
        "line": "l",
        "cameras": [{"id": "c", "source": {"kind": "rtsp", "url": "http://x"}}],
        "detector": {"conf_threshold": -1, "model": str(tmp_path / "missing.onnx")},
        "stats": {"interval_s": "often"},
        "bogus": 1,
    }
    text = edge_errors(tmp_path, data)
    for path in [
        "station: Field required",
        "cameras.0.source.url:",
        "detector.conf_threshold: Input should be greater than or equal to 0",
        "detector.model: file",
        "stats.interval_s: Input should be a valid number",
        "bogus: Extra inputs are not permitted",
    ]:
        assert path in text, path
    assert "6 errors" in text


def test_unreadable_model_and_sources(tmp_path: Path) -> None:
    a_dir = tmp_path / "frames"
    a_dir.mkdir()
    data = {
        **MINIMAL_EDGE,
        "detector": {"model": str(a_dir)},
        "cameras": [
            {"id": "c1", "source": {"kind": "file", "path": str(tmp_path / "nope.mp4")}},
            {"id": "c2", "source": {"kind": "folder", "path": str(tmp_path / "nodir")}},
            {"id": "c3", "source": {"kind": "folder", "path": str(a_dir)}},
        ],
    }
    text = edge_errors(tmp_path, data)
    assert "detector.model: " in text and "is a directory" in text
    assert "cameras.0.source.path: file" in text
    assert "cameras.1.source.path: directory" in text
    assert "cameras.2" not in text


def test_yaml_syntax_error_has_line_number(tmp_path: Path) -> None:
    text = edge_errors(tmp_path, "site: p\ncameras:\n  - id: c\n   source: [\n")
    assert "line 4" in text and "YAML" in text


def test_yaml_duplicate_key_is_an_error(tmp_path: Path) -> None:
    text = edge_errors(tmp_path, "site: a\nline: b\nsite: c\n")
    assert "duplicate key 'site'" in text and "line 3" in text


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "expected a mapping" in edge_errors(tmp_path, "- a\n- b\n")


def test_cloud_influx_rules(tmp_path: Path) -> None:
    def cloud_errors(data: dict[str, Any]) -> str:
        with pytest.raises(ConfigError) as exc:
            load_cloud_settings(write(tmp_path, data), {})
        return str(exc.value)

    assert "api v2 needs org, bucket, token" in cloud_errors({"influx": {"api": "v2"}})
    assert "api v1 needs database" in cloud_errors({"influx": {"api": "v1"}})
    assert "influx.url: " in cloud_errors({"influx": {"database": "d", "url": "ftp://x"}})
    assert "collector.deadletter_topic" in cloud_errors({"collector": {"deadletter_topic": "a/#"}})
    token = tmp_path / "token"
    token.write_text("tok")
    data = {"influx": {"api": "v2", "org": "o", "bucket": "b", "token_file": str(token)}}
    s = load_cloud_settings(write(tmp_path, data), {})
    assert s.influx is not None and s.influx.token is not None
    assert s.influx.token.get_secret_value() == "tok"
    env = {"LINEINSPECT_INFLUX__TOKEN": "from-env", "LINEINSPECT_INFLUX__API": "v2",
           "LINEINSPECT_INFLUX__ORG": "o", "LINEINSPECT_INFLUX__BUCKET": "b"}  # fmt: skip
    s = load_cloud_settings(write(tmp_path, {}), env)
    assert s.influx is not None and s.influx.token is not None
    assert s.influx.token.get_secret_value() == "from-env"
    assert "from-env" not in s.masked_yaml()
