"""Real servers on loopback ports: Mosquitto, InfluxDB 1.x and a mosquitto_sub client.

The test suite (through the fixtures in ``tests/conftest.py``) and the benchmarks in ``bench/``
both start them, so they live in the installed package rather than under ``tests/``. Build a
server with a custom config (users, autosave interval) from these classes.
"""

from lineinspect.testing.influx import InfluxError, InfluxServer, InfluxUnavailable
from lineinspect.testing.mosquitto import MosquittoServer, mqtt_connack_code
from lineinspect.testing.mosquitto_sub import MosquittoSub, SubMessage
from lineinspect.testing.ports import free_port
from lineinspect.testing.process import ServerProcess, ServerStartError

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
