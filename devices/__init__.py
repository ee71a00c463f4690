"""Sekisho device drivers: bytes and registers in, typed events out; no policy."""
