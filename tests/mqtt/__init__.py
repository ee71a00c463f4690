"""Tests of the MQTT bus (issue 6, part B) against real Mosquitto brokers."""
