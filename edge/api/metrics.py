"""Prometheus metrics of the live stream, the frame hub, the event feed and uploads.

Read from the parts' own counters when scraped (a custom collector), so the frame path does no
metric work. Registered into the agent's registry by ``create_app``, next to the pipeline's own
metrics (fps, per-stage latency, drops, MQTT backlog) which the agent registers itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.api.feed import EventFeed
from edge.stream.hub import FrameHub
from edge.stream.webrtc import StreamService


@dataclass
class ApiCounters:
    """Counted by the routes and guards."""

    rejected: dict[int, int] = field(default_factory=dict)  # upload refusals by HTTP status
    predictions: int = 0  # images run through the model

    def reject(self, status: int) -> None:
        self.rejected[status] = self.rejected.get(status, 0) + 1


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=labels)


class EdgeApiCollector(Collector):
    def __init__(self, hub: FrameHub, feed: EventFeed, stream: StreamService | None,
                 counters: ApiCounters) -> None:
        self.hub = hub
        self.feed = feed
        self.stream = stream
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        yield from self._hub()
        yield from self._feed()
        yield from self._api()
        if self.stream is not None:
            yield from self._stream(self.stream)

    def _hub(self) -> Iterator[Metric]:
        offered = _counter("lineinspect_hub_frames_offered", "frames the pipeline published to "
                           "the stream hub", ["camera"])
        taken = _counter("lineinspect_hub_frames_taken", "frames the stream encoder took",
                         ["camera"])
        skipped = _counter("lineinspect_hub_frames_skipped", "frames replaced before the "
                           "encoder took them (no viewer, or stream fps below camera fps)",
                           ["camera"])
        for cid in self.hub.camera_ids:
            c = self.hub.counts(cid)
            offered.add_metric([cid], c.offered)
            taken.add_metric([cid], c.taken)
            skipped.add_metric([cid], c.skipped)
        yield from (offered, taken, skipped)

    def _feed(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("lineinspect_events_clients", "connected live-event (SSE) "
                                "clients", value=self.feed.clients)
        yield CounterMetricFamily("lineinspect_events_client_drops", "events live-event "
                                  "clients missed by reading too slowly",
                                  value=self.feed.client_drops)
        yield CounterMetricFamily("lineinspect_events_fed", "defect events given to the live "
                                  "feed", value=self.feed.events_pushed)

    def _api(self) -> Iterator[Metric]:
        rejected = _counter("lineinspect_api_uploads_rejected", "uploads refused, by HTTP "
                            "status", ["status"])
        for status, n in sorted(self.counters.rejected.items()):
            rejected.add_metric([str(status)], n)
        yield rejected
        yield CounterMetricFamily("lineinspect_api_images_predicted", "uploaded images run "
                                  "through a model", value=self.counters.predictions)

    def _stream(self, stream: StreamService) -> Iterator[Metric]:
        viewers = GaugeMetricFamily("lineinspect_stream_viewers", "open live-video sessions",
                                    labels=["camera"])
        frames = _counter("lineinspect_stream_frames_encoded", "frames drawn and encoded "
                          "(once per camera and codec, whatever the viewer count)", ["camera"])
        seconds = _counter("lineinspect_stream_encode_seconds", "time spent resizing, drawing "
                           "and encoding", ["camera"])
        sent = _counter("lineinspect_stream_bytes_encoded", "encoded video bytes", ["camera"])
        drops = _counter("lineinspect_stream_viewer_drops", "packets viewers lost by falling "
                         "behind or waiting for a keyframe", ["camera"])
        for cid, n in stream.viewers_by_camera().items():
            viewers.add_metric([cid], n)
            st = stream.streamers[cid].stats if cid in stream.streamers else None
            frames.add_metric([cid], st.frames if st else 0)
            seconds.add_metric([cid], st.encode_s if st else 0.0)
            sent.add_metric([cid], st.bytes if st else 0)
            drops.add_metric([cid], stream.relays[cid].dropped)
        yield from (viewers, frames, seconds, sent, drops)
        yield GaugeMetricFamily("lineinspect_stream_max_viewers", "stream.max_viewers",
                                value=stream.settings.max_viewers)
        rejected = _counter("lineinspect_stream_sessions_rejected", "viewer sessions refused or "
                            "closed early", ["reason"])
        rejected.add_metric(["full"], stream.rejected_full)
        rejected.add_metric(["connect_timeout"], stream.timed_out)
        yield rejected
        yield CounterMetricFamily("lineinspect_stream_sessions_opened", "viewer sessions "
                                  "opened", value=stream.sessions_opened)
