"""Logging set-up for programs built on kruntimes (`krt`, the controllers, benchmarks).

The library only emits structlog events; it never configures logging on
import. Entry points call `configure_logging` once.
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(level: str | int = "INFO", *, json: bool = False, cache: bool = True) -> None:
    """Structured logs to stderr at `level`; `cache=False` lets tests reconfigure later
    (a logger cached on first use keeps its configuration for good)."""
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    processors: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=cache,
    )
