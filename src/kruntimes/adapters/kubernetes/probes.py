"""`/healthz`, `/readyz` and `/metrics` over HTTP, for kubelet probes and Prometheus.

A tiny threaded HTTP server from the standard library: probes must answer
even while the trio loop is busy, and they must not import a web framework
into every Runtime Pod. `ready` is read from the serving thread, so it must
be a cheap, non-blocking callable (reading an attribute).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def parse_bind_address(address: str) -> tuple[str, int]:
    """`:8080`, `0.0.0.0:8080` or `8080` -> (host, port); `0` disables (port 0 is refused)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"bind address {address!r} is not [host]:port")
    return host or "0.0.0.0", int(port)


class ProbeServer:
    """Serve on `(host, port)` until `close()`; `port=0` picks a free port (see `.port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ready: Callable[[], bool] = lambda: True,
        registry: CollectorRegistry | None = None,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._answer(200, b"ok\n")
                elif path == "/readyz":
                    ok = outer.ready()
                    self._answer(200 if ok else 503, b"ok\n" if ok else b"not ready\n")
                elif path == "/metrics" and outer.registry is not None:
                    self._answer(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                else:
                    self._answer(404, b"not found\n")

            def _answer(self, code: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would drown the logs

        self.ready = ready
        self.registry = registry
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"probes:{self.port}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
