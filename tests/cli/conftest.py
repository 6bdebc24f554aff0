"""An embedded engine for the `krt` tests, and `krt(...)`: the CLI run in process against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from krt_helpers import Krt

from kruntimes.cli import cli
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
def krt(engine: Client) -> Krt:
    """`krt("list", "-o", "json")`: the result of one command against the test engine."""
    assert engine.engine is not None
    env = {"KRUNTIMES_STATE_DIR": str(engine.engine.config.state_dir)}

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return invoke
