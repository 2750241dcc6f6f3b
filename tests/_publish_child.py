"""A separate edge process for the kill tests: a real Publisher in its own interpreter.

``python -m tests._publish_child stream URL OUTBOX N BATCH PAUSE_S``
    publishes N events in batches; after each batch is committed to the outbox (``flush``) it
    prints ``ACCEPTED id id ...``: from that line on, those events are the edge's promise.
``python -m tests._publish_child drain URL OUTBOX``
    publishes nothing; prints ``DRAINED`` once the outbox is empty (what a restart does).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests._publish_helpers import frame_event, publish_settings, start_publisher


def main(argv: list[str]) -> int:
    mode, url, outbox = argv[0], argv[1], Path(argv[2])
    pub = start_publisher(publish_settings(url, outbox, outbox={"drain_rate_per_s": 5000}))
    print("READY", flush=True)
    if mode == "stream":
        n, batch, pause = int(argv[3]), int(argv[4]), float(argv[5])
        for start in range(0, n, batch):
            events = [frame_event(i, severity="low") for i in range(start, min(n, start + batch))]
            for ev in events:
                if not pub.publish_event(ev):
                    print(f"REFUSED {ev.event_id}", flush=True)
            if not pub.flush(60):
                print("FLUSH-TIMEOUT", flush=True)
                return 1
            print("ACCEPTED " + " ".join(ev.event_id for ev in events), flush=True)
            time.sleep(pause)
        print("DONE", flush=True)
    while pub.counters()["backlog"] > 0:
        time.sleep(0.05)
    print("DRAINED", flush=True)
    pub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
