"""The real RTSP test server (tests/rtsp/server.py) as a restartable test server process."""

from __future__ import annotations

import socket
from pathlib import Path

from lineinspect.testing.ports import free_port
from lineinspect.testing.process import ServerProcess

SERVER_SCRIPT = Path(__file__).with_name("server.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # has Debian's python3-gi; the venv cannot


class RtspServer(ServerProcess):
    """gst-rtsp-server with a live H.264 test pattern at ``url``, on a fixed 127.0.0.1 port.

    ``kill()`` (SIGKILL), ``pause()`` (SIGSTOP, a hung camera), ``resume()`` and ``start()``
    again on the same port come from :class:`ServerProcess`.
    """

    name = "rtsp-server"

    def __init__(self, workdir: Path, *, port: int | None = None, fps: int = 15,
                 width: int = 320, height: int = 240, tcp_only: bool = True) -> None:
        super().__init__(workdir, startup_timeout=15.0)
        self.port = port or free_port()
        self.fps, self.width, self.height, self.tcp_only = fps, width, height, tcp_only

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/test"

    def _write_config(self) -> None:
        pass  # everything is on the command line

    def _command(self) -> list[str]:
        cmd = [SYSTEM_PYTHON, "-u", str(SERVER_SCRIPT), "--port", str(self.port),
               "--fps", str(self.fps), "--width", str(self.width), "--height", str(self.height)]
        return [*cmd, "--tcp-only"] if self.tcp_only else cmd

    def _answers(self) -> bool:
        return rtsp_options_ok("127.0.0.1", self.port)


def rtsp_options_ok(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if an RTSP OPTIONS request gets 200 OK: the server answers, not just accepts."""
    request = f"OPTIONS rtsp://{host}:{port}/test RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            return sock.recv(64).startswith(b"RTSP/1.0 200")
    except OSError:
        return False
