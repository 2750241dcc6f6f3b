"""Secrets: read from ``*_file`` paths (Docker/Kubernetes secrets), never shown in output."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

MASK = "********"
MAX_SECRET_BYTES = 65536


def readable_file(path: Path) -> Path:
    """``path`` if it is a readable regular file, else ``ValueError`` saying why not."""
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except FileNotFoundError:
        raise ValueError(f"file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{str(path)!r} is a directory, expected a file") from None
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    return path


def read_secret_file(path: Path) -> SecretStr:
    """The file's text without its trailing newline (how ``echo`` and editors write secrets)."""
    readable_file(path)
    raw = path.read_bytes()
    if len(raw) > MAX_SECRET_BYTES:
        raise ValueError(f"secret file {str(path)!r} is larger than {MAX_SECRET_BYTES} bytes")
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"secret file {str(path)!r} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"secret file {str(path)!r} is empty")
    return SecretStr(text)


def pick_secret(name: str, value: SecretStr | None, file: Path | None) -> SecretStr | None:
    """Resolve ``name`` / ``name_file``: at most one may be set; the file is read now."""
    if value is not None and file is not None:
        raise ValueError(f"set {name} or {name}_file, not both")
    if file is not None:
        return read_secret_file(file)
    return value


def reject_url_credentials(url: str) -> str:
    """Credentials in a URL end up in logs and process lists; they belong in secret fields."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError("do not put credentials in the URL; use username and password/_file")
    return url


def masked(value: Any) -> Any:
    """A plain, YAML-dumpable copy of ``value`` with every secret replaced by ``********``."""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [masked(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
