"""The MQTT bus: topic scheme, Home Assistant discovery, commands in, durable outbox, sensors.

Policy and mapping only; the broker connection itself is a driver (``devices.mqtt``) behind the
``gateway.mqtt.link.MqttLink`` port. The topic scheme is documented in ``docs/mqtt.md``.
"""
