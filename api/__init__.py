"""Sekisho HTTP API under /api/v1 and the security-desk dashboard."""
