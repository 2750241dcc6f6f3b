"""Start, kill, hang and restart the real RTSP test server (tests/rtsp/server.py)."""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path

SERVER_SCRIPT = Path(__file__).with_name("server.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # has Debian's python3-gi; the venv cannot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer:
    """One gst-rtsp-server process on a fixed 127.0.0.1 port, restartable on the same port."""

    def __init__(self, port: int | None = None, *, fps: int = 15, width: int = 320,
                 height: int = 240, tcp_only: bool = True) -> None:
        self.port = port or free_port()
        self.fps, self.width, self.height, self.tcp_only = fps, width, height, tcp_only
        self.proc: subprocess.Popen[str] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/test"

    def start(self, timeout: float = 15.0) -> None:
        assert self.proc is None, "already running"
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--fps", str(self.fps),
               "--width", str(self.width), "--height", str(self.height)]
        if self.tcp_only:
            cmd.append("--tcp-only")
        deadline = time.monotonic() + timeout
        while True:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            line = _read_line(proc, deadline)
            if line.startswith("READY"):
                self.proc, self.paused = proc, False
                return
            proc.kill()
            proc.wait()
            # The old socket may linger for a moment after a kill; try again until the deadline.
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP test server did not start on port {self.port}: {line!r}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: the camera dies without closing its sessions."""
        proc = self._running()
        if self.paused:
            proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()
        self.proc, self.paused = None, False

    def pause(self) -> None:
        """SIGSTOP: the camera hangs; its sockets stay open but nothing answers."""
        self._running().send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self._running().send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.proc is None:
            return
        proc = self.proc
        if self.paused:
            proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.proc, self.paused = None, False

    def _running(self) -> subprocess.Popen[str]:
        if self.proc is None:
            raise RuntimeError("RTSP test server is not running")
        return self.proc


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.1):
                return proc.stdout.readline().strip()
            if proc.poll() is not None:
                return f"exited with {proc.returncode}"
    return "timed out waiting for READY"



