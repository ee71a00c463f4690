"""Every test in this folder is a resilience drill (marker ``resilience``)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the drills of this folder ``resilience`` (``-m "not resilience"`` skips them)."""
    for item in items:
        if "tests/resilience/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.resilience)
