"""Fixtures for end-to-end tests on the simulated site."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.harness import Harness, start_harness, stop_harness


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Harness]:
    """The demo site with fast door timings, running."""
    h = await start_harness(tmp_path / "site")
    try:
        yield h
    finally:
        await stop_harness(h)
