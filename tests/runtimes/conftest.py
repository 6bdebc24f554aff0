"""Module-scoped Runtime Servers shared by the tests of one file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from runtime_helpers import ServerProcess, server_process


@pytest.fixture(scope="module")
def bash_server() -> Iterator[ServerProcess]:
    with server_process("bash", "--capacity", "8", "--kill-grace", "0.5") as server:
        yield server


@pytest.fixture(scope="module")
def python_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    modules = tmp_path_factory.mktemp("modules")
    (modules / "kr_counted.py").write_text(
        "import os\n"
        "path = os.environ['KR_COUNTER']\n"
        "with open(path, 'a') as f:\n"
        "    f.write('imported\\n')\n"
        "def handler(payload):\n"
        "    return {'echo': payload, 'imports': open(path).read().count('imported')}\n"
        "def unserialisable(payload):\n"
        "    return {1, 2}\n"
    )
    env = {"PYTHONPATH": str(modules), "KR_COUNTER": str(modules / "count.txt")}
    with server_process(
        "python", "--capacity", "2", "--kill-grace", "0.5", "--preload", "kr_counted", env=env
    ) as server:
        yield server
