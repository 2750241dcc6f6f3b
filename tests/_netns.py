"""Run a test body in a network namespace that has only a loopback interface.

``unshare -n`` gives the child its own network stack; ``ip link set lo up`` brings its loopback
up. Servers and browsers inside can talk to each other on 127.0.0.1, and any attempt to reach
anything else fails at once: nothing leaves the machine, whatever the browser tries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def netns_available() -> str | None:
    """None if loopback-only namespaces work here, else why not."""
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux / iproute2)"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare -n failed: {probe.stderr.strip()}"
    return None


def run_module_in_netns(module: str, args: list[str], timeout: float,
                        log: Path) -> subprocess.CompletedProcess[str]:
    """``python -m module args...`` inside a fresh loopback-only namespace; output to ``log``."""
    quoted = " ".join(f"'{a}'" for a in args)
    script = f"ip link set lo up && exec {sys.executable} -m {module} {quoted}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("w") as fh:
        return subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=REPO, env=env,
                              stdout=fh, stderr=subprocess.STDOUT, text=True, timeout=timeout)
