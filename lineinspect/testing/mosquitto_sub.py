"""``mosquitto_sub`` as an independent MQTT client in tests, its output collected in a thread.

Runs ``mosquitto_sub -d -h H -p P -q QOS -v [-c] -i ID -t TOPIC...``. ``-d`` prints the protocol
exchange on stdout, which gives two things the plain output cannot: when the subscription is
active (SUBACK), so a test never publishes into the void, and each message's retain/QoS flags.
Message payloads must be single-line (true for the product's compact JSON).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
STDBUF = "/usr/bin/stdbuf"

_PUBLISH = re.compile(r"received PUBLISH \(d(\d), q(\d), r(\d), m\d+, '")


@dataclass(frozen=True)
class SubMessage:
    topic: str
    payload: str
    qos: int
    retained: bool
    dup: bool


class MosquittoSub:
    """One mosquitto_sub process. ``clean=False`` adds ``-c`` (persistent session, the broker
    queues QoS 1 messages while it is away), which needs a fixed ``client_id``."""

    def __init__(
        self,
        host: str,
        port: int,
        topics: Sequence[str],
        *,
        client_id: str | None = None,
        qos: int = 1,
        clean: bool = False,
        username: str | None = None,
        password: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        if not topics:
            raise ValueError("mosquitto_sub needs at least one topic")
        self.client_id = client_id or f"sub-{uuid.uuid4().hex[:10]}"
        # mosquitto_sub flushes after each message but not after its -d lines, so on a pipe the
        # SUBACK line would sit in the stdio buffer; stdbuf makes stdout line-buffered.
        argv = [STDBUF, "-oL", MOSQUITTO_SUB, "-d", "-v", "-q", str(qos)]
        argv += ["-h", host, "-p", str(port), "-i", self.client_id]
        if not clean:
            argv.append("-c")
        if username is not None:
            argv += ["-u", username]
        if password is not None:
            argv += ["-P", password]
        for topic in topics:
            argv += ["-t", topic]
        self.argv = argv + list(extra_args)
        self._debug_prefix = f"Client {self.client_id} "
        self._messages: list[SubMessage] = []
        self._debug: list[str] = []
        self._subacks = 0
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._err_reader: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> MosquittoSub:
        """Start and wait for the SUBACK, so messages published afterwards are not missed."""
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name="mosquitto_sub", daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(
            target=self._read_stderr, name="mosquitto_sub-stderr", daemon=True
        )
        self._err_reader.start()
        if not self.wait_subscribed(1, timeout):
            self.stop()
            raise RuntimeError(
                f"mosquitto_sub got no SUBACK within {timeout} s: {self.argv}\n" + self.debug_tail()
            )
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for reader in (self._reader, self._err_reader):
            if reader is not None:
                reader.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> MosquittoSub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        flags: tuple[int, bool, bool] = (0, False, False)
        for raw in self._proc.stdout:
            line = raw.rstrip("\n")
            with self._cond:
                if line.startswith(self._debug_prefix) or line.startswith("Subscribed (mid:"):
                    self._debug.append(line)
                    match = _PUBLISH.search(line)
                    if match:
                        flags = (int(match[2]), match[3] == "1", match[1] == "1")
                    if "received SUBACK" in line:
                        self._subacks += 1
                else:
                    topic, _, payload = line.partition(" ")
                    self._messages.append(SubMessage(topic, payload, *flags))
                    flags = (0, False, False)
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        # Connection errors ("Connection refused" while the broker is down) come here; keep them
        # with the debug lines so they never pass for messages.
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            with self._cond:
                self._debug.append("stderr: " + raw.rstrip("\n"))

    # -- reading -------------------------------------------------------------------------------
    @property
    def messages(self) -> list[SubMessage]:
        with self._cond:
            return list(self._messages)

    @property
    def lines(self) -> list[str]:
        """Messages as mosquitto_sub -v prints them: ``topic payload``."""
        return [f"{m.topic} {m.payload}" for m in self.messages]

    @property
    def subscribe_count(self) -> int:
        """SUBACKs seen: one per (re)connection, so it also counts reconnects."""
        with self._cond:
            return self._subacks

    def wait_subscribed(self, count: int = 1, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._subacks >= count, timeout=timeout)

    def wait_for(
        self, predicate: Callable[[list[SubMessage]], bool], timeout: float = 10.0
    ) -> list[SubMessage]:
        """Block until ``predicate(messages)`` holds; raise TimeoutError with what arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    got = "\n".join(f"{m.topic} {m.payload}" for m in self._messages[-20:])
                    raise TimeoutError(
                        f"mosquitto_sub {self.client_id}: condition not met in {timeout} s; "
                        f"{len(self._messages)} messages, last ones:\n{got}"
                    )
                self._cond.wait(left)
            return list(self._messages)

    def wait_count(self, n: int, timeout: float = 10.0) -> list[SubMessage]:
        return self.wait_for(lambda msgs: len(msgs) >= n, timeout)

    def debug_tail(self, lines: int = 30) -> str:
        with self._cond:
            return "\n".join(self._debug[-lines:])
