"""A throw-away PKI for TLS tests against the real Mosquitto (openssl CLI)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(d: Path) -> dict[str, Path]:
    """A CA, a server cert for 127.0.0.1 and a client cert, made with the openssl CLI."""
    p = {k: d / f"{k}.pem" for k in ("ca", "ca_key", "srv", "srv_key", "cli", "cli_key")}
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")  # fast keys
    _openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=lineinspect-test-ca",
             "-keyout", str(p["ca_key"]), "-out", str(p["ca"]))
    ext = d / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("srv", "127.0.0.1"), ("cli", "edge-st2")):
        csr = d / f"{name}.csr"
        key = str(p[f"{name}_key"])
        _openssl("req", *ec, "-subj", f"/CN={cn}", "-keyout", key, "-out", str(csr))
        extra = ["-extfile", str(ext)] if name == "srv" else []
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(p["ca"]), "-CAkey",
                 str(p["ca_key"]), "-CAcreateserial", "-days", "2", "-out", str(p[name]),
                 *extra)
    return p


def tls_listener(pki: dict[str, Path], port: int, require_certificate: bool) -> str:
    """Mosquitto config for a TLS listener on 127.0.0.1:``port`` with the PKI's server cert."""
    return "\n".join([
        f"listener {port} 127.0.0.1",
        f"cafile {pki['ca']}",
        f"certfile {pki['srv']}",
        f"keyfile {pki['srv_key']}",
        f"require_certificate {str(require_certificate).lower()}",
    ])
