"""Real servers for tests: Mosquitto, InfluxDB 1.x and a mosquitto_sub client.

Use them through the fixtures in ``tests/conftest.py``; import the classes from here to build a
server with a custom config (users, autosave interval) in a test.
"""

from tests.servers.influx import InfluxError, InfluxServer, InfluxUnavailable
from tests.servers.mosquitto import MosquittoServer, mqtt_connack_code
from tests.servers.mosquitto_sub import MosquittoSub, SubMessage
from tests.servers.ports import free_port
from tests.servers.process import ServerProcess, ServerStartError

__all__ = [
    "InfluxError",
    "InfluxServer",
    "InfluxUnavailable",
    "MosquittoServer",
    "MosquittoSub",
    "ServerProcess",
    "ServerStartError",
    "SubMessage",
    "free_port",
    "mqtt_connack_code",
]
