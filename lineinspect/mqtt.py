"""The one paho-mqtt 2.x client factory of both roles, and their default client ids.

The edge publisher and the cloud collector connect with the same :class:`MqttSettings`, so they
must read them the same way: transport and WebSocket path, credentials, TLS (CA, client
certificate, ``insecure_skip_verify``, the TLS version), connect timeout and the reconnect
back-off. What differs per role (last will, in-flight window, manual acks, callbacks) each adds
to the client this returns.

paho is a dependency of the edge and cloud extras, not of the core: import this module only
from code that talks MQTT.
"""

from __future__ import annotations

import socket
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lineinspect.config.mqtt import MqttSettings

MAX_CLIENT_ID = 128


def default_client_id(role: str, *names: str) -> str:
    """``lineinspect-<role>-<names…>``; without names, the host name.

    Stable across restarts either way, so a restarted agent or replica resumes its broker
    session (and what the broker queued for it) instead of starting a new one.
    """
    tail = "-".join(names) if names else socket.gethostname()
    return f"lineinspect-{role}-{tail}"[:MAX_CLIENT_ID]


def protocol_of(settings: MqttSettings) -> mqtt.MQTTProtocolVersion:
    return mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311


def build_client(
    settings: MqttSettings,
    client_id: str,
    *,
    protocol: mqtt.MQTTProtocolVersion | None = None,
    persistent: bool,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho client configured from ``settings``; not yet connected.

    ``protocol`` overrides ``settings.protocol`` (the collector's 3.1.1 fallback).
    ``persistent`` keeps the broker-side session across disconnects; for MQTT 3.1.1 that is
    ``clean_session=False`` here, for MQTT 5 the caller's CONNECT (clean start, session expiry).
    """
    protocol = protocol if protocol is not None else protocol_of(settings)
    endpoint = settings.endpoint
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == mqtt.MQTTv5 else not persistent,
        transport=endpoint.transport,
        reconnect_on_failure=True,
        manual_ack=manual_ack,
    )
    if endpoint.transport == "websockets":
        client.ws_set_options(path=endpoint.ws_path)
    if settings.use_tls:
        _configure_tls(client, settings)
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)  # type: ignore[arg-type]
    client.connect_timeout = settings.connect_timeout_s
    return client


def _configure_tls(client: mqtt.Client, settings: MqttSettings) -> None:
    tls = settings.tls
    insecure = tls is not None and tls.insecure_skip_verify
    client.tls_set(
        ca_certs=str(tls.ca_file) if tls is not None and tls.ca_file else None,
        certfile=str(tls.cert_file) if tls is not None and tls.cert_file else None,
        keyfile=str(tls.key_file) if tls is not None and tls.key_file else None,
        # insecure_skip_verify means any certificate: also one no CA we know signed, not only
        # one for another host name (which is all tls_insecure_set alone would allow).
        cert_reqs=ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED,
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    if insecure:
        client.tls_insecure_set(True)
