"""The reference WHEP client, npm ``whip-whep``, installed from tests/whep_client/package-lock.json.

``npm ci`` runs in a cache directory outside the repository keyed by the lock file's hash
(``LINEINSPECT_CI_CACHE``, default /var/cache/lineinspect-ci), so a fresh machine installs it
once and later runs reuse it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from lineinspect.testing.docker import ci_cache

CLIENT_DIR = Path(__file__).resolve().parent / "whep_client"


def whep_js() -> Path:
    """Path of the installed whip-whep ``whep.js`` (an ES module exporting WHEPClient)."""
    lock = CLIENT_DIR / "package-lock.json"
    key = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    home = ci_cache() / f"npm-whep-{key}"
    module = home / "node_modules" / "whip-whep" / "whep.js"
    if module.is_file():
        return module
    home.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(CLIENT_DIR / name, home / name)
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                          cwd=home, capture_output=True, text=True, timeout=300)  # fmt: skip
    if proc.returncode != 0 or not module.is_file():
        raise RuntimeError(f"npm ci in {home} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return module
