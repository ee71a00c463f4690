"""Fixtures of the storage tests (the helpers themselves live in storage_support.py)."""

from __future__ import annotations

import pytest

from tests.gateway.storage.storage_support import HoldWrites, MakeRecord, new_record, writes_held


@pytest.fixture
def make_record() -> MakeRecord:
    """Factory of records to append (see :func:`storage_support.new_record`)."""
    return new_record


@pytest.fixture
def hold_writes() -> HoldWrites:
    """Context-manager factory that stalls every commit to ``record`` while it is entered."""
    return writes_held
