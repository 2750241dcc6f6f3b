"""A real Docker daemon (Debian's dockerd) of the tests' own; a base image made by debootstrap.

The daemon has its own socket and exec root in a temp dir and runs with ``--bridge=none
--iptables=false``, so the host's networking is untouched: containers run with ``--network
host`` and reach the test servers on 127.0.0.1. Its data root (images, build cache) lives in
``LINEINSPECT_CI_CACHE`` (default ``/var/cache/lineinspect-ci``), outside the repository, so a
second run on the same machine reuses layers; an empty one (a fresh machine) works too, only
slower. One daemon at a time may use a data root: a lock file serialises test runs.

No registry is reachable from CI, so base images are made here: ``debootstrap --variant=minbase``
of a Debian suite, imported with ``docker import`` under a tag that is a hash of what made it.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from lineinspect.testing.process import ServerProcess

DOCKERD = "/usr/sbin/dockerd"
# Debian's client: it builds with BuildKit and --secret (a newer client earlier on PATH may lack
# buildx and refuse DOCKER_BUILDKIT=1).
DOCKER = "/usr/bin/docker"
DEBOOTSTRAP = "/usr/sbin/debootstrap"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def ci_cache() -> Path:
    return Path(os.environ.get("LINEINSPECT_CI_CACHE", "/var/cache/lineinspect-ci"))


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class DockerError(RuntimeError):
    """A docker command failed; the message has its arguments and output."""


class DockerDaemon(ServerProcess):
    name = "dockerd"

    def __init__(self, data_root: Path | None = None, startup_timeout: float = 60.0) -> None:
        # A short path: the socket's must fit in sun_path (108 bytes).
        super().__init__(Path(tempfile.mkdtemp(prefix="li-dockerd-")), startup_timeout)
        self.data_root = data_root if data_root is not None else ci_cache() / "docker"
        self.socket_path = self.workdir / "docker.sock"
        self._lock: IO[str] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def _write_config(self) -> None:
        if os.geteuid() != 0:
            raise PermissionError("dockerd needs root; run the image tests as root")
        self.data_root.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._lock = (self.data_root.parent / f"{self.data_root.name}.lock").open("w")
            fcntl.flock(self._lock, fcntl.LOCK_EX)  # waits for another run on this data root

    def _command(self) -> list[str]:
        ns = f"lineinspect-ci-{hashlib.sha256(str(self.data_root).encode()).hexdigest()[:8]}"
        return [
            DOCKERD, "--data-root", str(self.data_root), "--exec-root", str(self.workdir / "x"),
            "--pidfile", str(self.workdir / "dockerd.pid"), "--host", self.host,
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            # Its own containerd namespaces: nothing shared with a system docker on the host.
            "--containerd-namespace", ns, "--containerd-plugins-namespace", f"{ns}-plugins",
        ]  # fmt: skip

    def _answers(self) -> bool:
        try:
            conn = _UnixHTTPConnection(str(self.socket_path), timeout=1.0)
            conn.request("GET", "/_ping")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def close(self) -> None:
        super().close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- client --------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=self.host, DOCKER_BUILDKIT="1")
        return env

    def docker(
        self, *args: str, input: bytes | None = None, timeout: float = 600.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [DOCKER, *args], input=input.decode("latin-1") if input else None, env=self.env(),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise DockerError(f"docker {' '.join(args)}: exit {proc.returncode}\n"
                              f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")  # fmt: skip
        return proc

    def has_image(self, ref: str) -> bool:
        return self.docker("image", "inspect", ref, check=False).returncode == 0


# -- base image ----------------------------------------------------------------------------------
# What a debootstrapped base is made of; its hash is the image tag and the cache file name.
BASE_SUITE = "bookworm"
BASE_MIRROR = "http://deb.debian.org/debian"
# Removed from the root file system before import: the downloaded .debs and the package lists
# (each image's own apt-get update fetches fresh lists).
_BASE_CLEAN = ("var/cache/apt/archives", "var/lib/apt/lists")
_BASE_RECIPE = f"debootstrap --variant=minbase {BASE_SUITE} {BASE_MIRROR}; rm {_BASE_CLEAN}; v1"


def base_image_tag() -> str:
    return "lineinspect-ci/base:" + hashlib.sha256(_BASE_RECIPE.encode()).hexdigest()[:16]


def ensure_base_image(daemon: DockerDaemon) -> str:
    """The debootstrapped base in ``daemon``: already there, from the cached tarball, or made."""
    tag = base_image_tag()
    if daemon.has_image(tag):
        return tag
    tarball = ci_cache() / f"base-{tag.split(':')[1]}.tar"
    if not tarball.exists():
        _debootstrap_tarball(tarball)
    with tarball.open("rb") as f:
        proc = subprocess.run([DOCKER, "import", "-", tag], stdin=f, env=daemon.env(),
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    if proc.returncode != 0:
        raise DockerError(f"docker import {tarball}: {proc.stderr[-2000:]}")
    return tag


def _debootstrap_tarball(tarball: Path) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="li-rootfs-", dir=tarball.parent) as tmp:
        root = Path(tmp) / "rootfs"
        _run([DEBOOTSTRAP, "--variant=minbase", BASE_SUITE, str(root), BASE_MIRROR], 900)
        for rel in _BASE_CLEAN:
            for child in (root / rel).iterdir():
                if child.is_file():
                    child.unlink()
        partial = tarball.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], 300)
        partial.rename(tarball)  # only a complete tarball is ever reused


def _run(argv: Sequence[str], timeout: float) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise DockerError(f"{' '.join(argv)}: exit {proc.returncode}\n{proc.stderr[-3000:]}")


def build_args_for_ca() -> list[str]:
    """``--secret id=ca,...`` with this machine's CA bundle (TLS-inspecting proxies), if any."""
    return ["--secret", f"id=ca,src={CA_BUNDLE}"] if CA_BUNDLE.exists() else []
