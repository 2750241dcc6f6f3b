"""A real server run as a child process: start, wait until it answers, stop, kill, pause.

Subclasses say how to write their config, which command to run and how to tell that the server
answers. The same instance can be stopped and started again any number of times; it keeps its
ports and data directory, so tests can take a broker or a database away mid-stream and bring the
same one back.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import signal
import subprocess
import threading
import time
import weakref
from abc import ABC, abstractmethod
from pathlib import Path

# Every instance ever created, so a failing test can show the logs of the servers it used and
# so nothing outlives the pytest process when a test forgets to stop a server.
_REGISTRY: weakref.WeakSet[ServerProcess] = weakref.WeakSet()
_SERIAL = itertools.count(1)

_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries the tail of its log."""


# Loaded once in the parent: dlopen in a freshly forked child of a threaded process can deadlock.
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    # If pytest itself is killed (SIGKILL, OOM), its servers must not linger holding ports.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _child_env() -> dict[str, str]:
    # influxd reads INFLUXDB_* variables over its config file; a stray one in the developer's
    # shell would silently move a port or a directory.
    return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}


class ServerProcess(ABC):
    """Base for a server child process with a log file in its work directory."""

    name = "server"

    def __init__(self, workdir: Path, startup_timeout: float = 30.0) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self.startup_timeout = startup_timeout
        self.serial = next(_SERIAL)
        self.start_count = 0
        self.last_startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        _REGISTRY.add(self)

    # -- what a subclass provides ------------------------------------------------------------
    @abstractmethod
    def _write_config(self) -> None:
        """Write the config file(s) the command reads (called before every start)."""

    @abstractmethod
    def _command(self) -> list[str]:
        """The argv that runs the server in the foreground."""

    @abstractmethod
    def _answers(self) -> bool:
        """True once the server answers a real protocol request (not just a TCP accept)."""

    # -- life cycle ----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused

    def start(self) -> None:
        """Start the server and block until it answers, or raise ServerStartError."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self._write_config()
        self.start_count += 1
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.start_count}: {' '.join(self._command())}\n".encode())
            log.flush()
            main = threading.current_thread() is threading.main_thread()
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=_child_env(),
                # Death-signal is tied to the forking thread, so only use it from the main one.
                preexec_fn=_die_with_parent if main else None,
            )
        self._paused = False
        self._wait_until_answering(began)
        self.last_startup_seconds = time.monotonic() - began

    def _wait_until_answering(self, began: float) -> None:
        deadline = began + self.startup_timeout
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {code} during start-up; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError(
                    f"{self.name} did not answer within {self.startup_timeout:.0f} s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send ``sig`` and wait for exit (SIGKILL after ``timeout``); return the exit code."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc is not None else None
        proc.send_signal(sig)
        if self._paused:
            # A stopped process keeps SIGTERM pending until it is continued.
            proc.send_signal(signal.SIGCONT)
            self._paused = False
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)

    def kill(self) -> int | None:
        """SIGKILL: no clean shutdown, no final save (a crash or power loss)."""
        return self.stop(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: the process holds its sockets but answers nothing (a hung server)."""
        if not self.running:
            raise RuntimeError(f"{self.name} is not running")
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT after pause()."""
        if self._proc is not None and self._paused:
            self._proc.send_signal(signal.SIGCONT)
        self._paused = False

    def restart(self) -> None:
        """Clean stop and start again on the same port and data directory."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop if running; safe to call any number of times (fixture teardown)."""
        self.stop()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- diagnostics ---------------------------------------------------------------------------
    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])


def registered_servers() -> list[ServerProcess]:
    """All server objects still alive in this process, oldest first."""
    return sorted(_REGISTRY, key=lambda s: s.serial)


def current_serial() -> int:
    """A watermark: servers created after this call have a larger ``serial``."""
    return next(_SERIAL)


@atexit.register
def _stop_all() -> None:
    for server in registered_servers():
        # Best effort at interpreter exit: one stuck server must not keep the others running.
        with contextlib.suppress(Exception):
            server.close()
