"""MQTT publishing of the edge agent: defect events, PLC alarms, camera status and stats, with a
durable store-and-forward outbox (see ``docs/mqtt.md``).

The pipeline uses :class:`edge.publish.publisher.Publisher`, built by
:func:`edge.publish.factory.build_publisher` or :func:`edge.publish.factory.open_publisher`:
``publish_event`` never blocks, ``set_camera_status`` on state changes, ``stats(camera)`` for
the counters it fills, ``close()`` at shutdown.

Nothing is imported here on purpose: ``edge.settings`` imports ``edge.publish.settings``, and
loading a settings file must not pull in paho or SQLite.
"""
