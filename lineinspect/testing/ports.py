"""Free loopback ports for test servers."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port the kernel considers free on ``host``.

    The socket is closed before the server binds, so another process could take the port in
    between; on a test machine that race is rare enough, and the server's start-up check turns it
    into a clear error instead of a hang.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
