"""Cameras in the core: evidence for records, tailgating, intrusion, coverage of outsiders."""
