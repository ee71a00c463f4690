"""MQTT broker link over paho-mqtt 2.x (MQTT v5); paho's exceptions end in this package."""
