"""Sekisho gateway core: domain, decisions, door state machines, records and the event bus."""
