"""Simulated field devices for Sekisho, speaking the real protocols (OSDP, Modbus TCP, RDM6300)."""
