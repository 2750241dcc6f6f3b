"""A throw-away PKI for TLS tests against the real Mosquitto.

``make_pki`` makes a CA, a server and one client certificate with the openssl CLI;
``ScratchCA`` issues any number of client certificates whose CN is the broker user name (the
shipped ACL's users, as docs/deploy.md has a site make them), with ``cryptography``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


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


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    path.chmod(0o600)


class ScratchCA:
    """Certificates signed by one fresh CA, written under ``directory``."""

    def __init__(self, directory: Path, name: str = "lineinspect test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        self._cert = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        self.ca_file = directory / "ca.crt"
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, cn: str, *, server: bool = False) -> CertFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self._cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )  # fmt: skip
        if server:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(cn))])
            builder = builder.add_extension(san, critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        files = CertFiles(self.directory / f"{cn}.crt", self.directory / f"{cn}.key")
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, files.key)
        return files
