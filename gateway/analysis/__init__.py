"""Periodic analysis of the records (4-8-6(3)): reports stored as records, served by the API."""
