"""Resilience rigs: crash, link, disk and fuzz drills against a real gateway (issue 9, part A).

``tests/resilience`` runs the short variants in CI; ``python -m resilience`` (``make
resilience``) runs the long ones. Everything here talks only to 127.0.0.1.
"""
