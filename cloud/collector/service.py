"""The collector: MQTT link + ordered batch pipeline + settler (judge and write, in a worker
process by default), wired from settings."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import paho.mqtt.client as mqtt

from cloud.collector.counters import Counters
from cloud.collector.intake import Classifier
from cloud.collector.mqtt_link import MqttLink
from cloud.collector.pipeline import Pipeline, PipelineOptions
from cloud.collector.policy import BatchPolicy, receive_maximum
from cloud.collector.settle import LocalSettler, Settler
from cloud.collector.settle_process import ProcessSettler
from cloud.settings import CloudSettings
from cloud.store.factory import batch_limits, build_writer
from cloud.store.writer import PointWriter
from lineinspect.mqtt import default_client_id

log = logging.getLogger(__name__)

DEFAULT_LINGER_311_MS = 20


class Collector:
    def __init__(
        self,
        settings: CloudSettings,
        writer: PointWriter | None = None,
        client_id: str | None = None,
    ) -> None:
        self.settings = settings
        cs = settings.collector
        limits = batch_limits(settings)
        self.client_id = client_id or cs.mqtt.client_id or default_client_id("collector")
        self.counters = Counters()
        self.settler = self._settler(writer)
        self.link = MqttLink(
            cs, self.counters, receive_maximum(limits.points), client_id=self.client_id
        )
        self.pipeline = Pipeline(
            self.settler,
            self.link,
            # MQTT 5: the batch fills up to size or age; the broker keeps sending until our
            # Receive Maximum, so a pause in the stream says nothing (and on a busy machine a
            # scheduling hiccup would cut batches short). MQTT 3.1.1 (below) writes on pauses.
            BatchPolicy(limits.points, limits.wait_ms / 1000.0, (cs.linger_ms or 0) / 1000.0),
            self.counters,
            PipelineOptions(cs.qos0_backlog_limit),
        )
        self.link.sink = self.pipeline.submit
        self.link.on_protocol = self._protocol_changed
        if self.link.protocol == mqtt.MQTTv311:
            self._protocol_changed(mqtt.MQTTv311)
        self._log_every = cs.stats_log_interval_s

    def _settler(self, writer: PointWriter | None) -> Settler:
        """In a worker process unless a writer object is handed in (tests, embedded use)
        or the setting says otherwise."""
        cs = self.settings.collector
        if writer is None and cs.worker_process:
            return ProcessSettler(self.settings, self.client_id, self.counters)
        classifier = Classifier(self.client_id, cs.max_payload_bytes, cs.deadletter_topic)
        return LocalSettler(
            classifier,
            writer if writer is not None else build_writer(self.settings),
            self.counters,
            (cs.retry_min_s, cs.retry_max_s),
            threading.Event(),
        )

    def _protocol_changed(self, protocol: mqtt.MQTTProtocolVersion) -> None:
        if protocol == mqtt.MQTTv311:
            # No Receive Maximum: the broker's own in-flight cap (Mosquitto: 20) stops the
            # stream until we acknowledge, so write as soon as it pauses.
            configured = self.settings.collector.linger_ms
            linger = (DEFAULT_LINGER_311_MS if configured is None else configured) / 1000.0
            self.pipeline.set_policy(dataclasses.replace(self.pipeline.policy, linger_s=linger))

    def start(self) -> None:
        self.settler.start()
        self.pipeline.start()
        self.link.start()
        log.info("collector %s started", self.link.client_id)

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        self.link.pause_intake()
        self.pipeline.stop(drain_timeout_s)
        self.link.stop()
        self.settler.close()
        log.info("collector stopped; counters %s", self.counters.snapshot())

    def retire(self, quiet_s: float, timeout_s: float = 3600.0) -> bool:
        """Scale-down step for a replica that is gone for good: resume its session, leave the
        shared subscription, write everything the broker had queued for it, then end the
        session so the broker stops keeping messages for this client id. True if it drained
        (nothing arrived for ``quiet_s`` and everything was written) within ``timeout_s``."""
        self.start()
        deadline = time.monotonic() + timeout_s
        drained = False
        if self.link.wait_subscribed(min(timeout_s, 120.0)):
            self.link.unsubscribe()
            while time.monotonic() < deadline:
                quiet = time.monotonic() - self.link.last_message_at
                if quiet >= quiet_s and self.pipeline.wait_idle(0):
                    drained = True
                    break
                time.sleep(0.2)
        self.link.pause_intake()
        self.pipeline.stop()
        self.link.stop(end_session=drained)
        self.settler.close()
        log.info("retire %s: %s; counters %s", self.client_id,
                 "drained, session ended" if drained else "NOT drained, session kept",
                 self.counters.snapshot())  # fmt: skip
        return drained

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, logging the counters now and then."""
        self.start()
        try:
            while not stop.wait(self._log_every):
                log.info("collector counters %s", self.counters.snapshot())
        finally:
            self.stop()
