"""An embedded engine for the examples, which run as subprocesses and find it by env."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kruntimes.client import Client
from kruntimes.engine.embedded import EngineConfig
from kruntimes.logs_config import configure_logging

configure_logging("WARNING", cache=False)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    state: Path = tmp_path_factory.mktemp("engine")
    config = EngineConfig(state_dir=state, persist=False, load_entry_points=False)
    with Client.embedded(config) as client:
        yield client


@pytest.fixture
def example_env(engine: Client) -> dict[str, str]:
    """The environment of an example: this engine's state dir, and `krt` on the PATH."""
    assert engine.engine is not None
    return {
        **os.environ,
        "KRUNTIMES_STATE_DIR": str(engine.engine.config.state_dir),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
