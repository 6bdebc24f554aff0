"""One embedded engine for the client tests, on a background thread, and store helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kruntimes.client import Client
from kruntimes.engine.embedded import EngineConfig
from kruntimes.logs_config import configure_logging

configure_logging("WARNING", cache=False)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A sync client of a live engine (bash and python pools) serving its socket too."""
    state: Path = tmp_path_factory.mktemp("engine")
    config = EngineConfig(state_dir=state, persist=False, load_entry_points=False)
    with Client.embedded(config) as client:
        yield client
