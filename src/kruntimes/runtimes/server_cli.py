"""Command-line options every built-in Runtime Server takes, and how it starts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from kruntimes.runtimes.output import DEFAULT_TAIL_BYTES
from kruntimes.runtimes.server_base import DEFAULT_KILL_GRACE_SECONDS, RuntimeServer


def add_common_arguments(parser: argparse.ArgumentParser, *, default_capacity: int) -> None:
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    parser.add_argument(
        "--capacity",
        type=int,
        default=default_capacity,
        help=f"executions run at once; more wait as PENDING (default {default_capacity})",
    )
    parser.add_argument(
        "--kill-grace",
        type=float,
        default=DEFAULT_KILL_GRACE_SECONDS,
        help="seconds between TERM and KILL on cancel or timeout (default %(default)s)",
    )
    parser.add_argument(
        "--tail-bytes",
        type=int,
        default=DEFAULT_TAIL_BYTES,
        help="bytes of stdout and of stderr kept in the status (default %(default)s)",
    )
    parser.add_argument(
        "--ready-fd",
        type=int,
        help="write 'ready\\n' to this inherited fd once the socket accepts connections",
    )


def common(options: argparse.Namespace) -> dict[str, Any]:
    """The `RuntimeServer` keyword arguments from the common options."""
    return {
        "capacity": options.capacity,
        "kill_grace_seconds": options.kill_grace,
        "tail_bytes": options.tail_bytes,
    }


def run_server(options: argparse.Namespace, build: Callable[[], RuntimeServer]) -> None:
    """Build and serve; a configuration error is one line on stderr and exit status 2."""
    try:
        server = build()
    except (ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    server.serve(ready_fd=options.ready_fd)
