"""Sekisho application: wiring of core, drivers and API, and the command line."""
