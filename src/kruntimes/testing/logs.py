"""Capture every structlog event of a block, whatever level the program configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.testing import capture_logs


@contextmanager
def capture_all_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Like `structlog.testing.capture_logs`, with debug and info events too.

    Loggers cached on first use (`configure_logging(cache=True)`, the default
    for programs) keep their old configuration; tests configure with
    `cache=False`.
    """
    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**old)
