"""Visitors (4-8-7(1)): pre-registration, approval, check-in, escort, check-out, the PE-8 log."""
