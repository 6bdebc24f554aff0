"""Fixtures of the codec tests: fresh copies of realistic documents."""

from __future__ import annotations

from typing import Any

import pytest
from wire_documents import bash_runtime, bash_task


@pytest.fixture
def run_doc() -> dict[str, Any]:
    return bash_task()


@pytest.fixture
def runtime_doc() -> dict[str, Any]:
    return bash_runtime()
