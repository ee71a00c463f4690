"""Incidents (4-8-11): report, contain, investigate, legal reporting deadlines, close."""
