"""KubeApi against a scripted HTTP server: error mapping, retries with backoff, giving up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trio
from kubernetes import client as k8s_client

from kruntimes.adapters.kubernetes import api as api_module
from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.store import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    StoreError,
    Unavailable,
)


class Script:
    """The statuses the server answers, in order; the last one repeats."""

    def __init__(self) -> None:
        self.statuses: list[int] = [200]
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def next(self, method: str, path: str) -> int:
        with self.lock:
            self.seen.append((method, path))
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.fixture
def server() -> Iterator[tuple[Script, KubeApi]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status = script.next(self.command, self.path)
            body = {"kind": "Status", "code": status, "message": f"scripted {status}"}
            if status == 200:
                body = {"kind": "Run", "metadata": {"name": "a"}}
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    configuration = k8s_client.Configuration(host=f"http://127.0.0.1:{http.server_address[1]}")
    api = KubeApi(k8s_client.ApiClient(configuration), give_up_after=2.0)
    try:
        yield script, api
    finally:
        http.shutdown()
        http.server_close()


def call(api: KubeApi, method: str = "GET") -> object:
    async def main() -> object:
        return await api.request(method, "/apis/kruntimes.io/v1alpha1/namespaces/a/runs/a")

    return trio.run(main)


@pytest.mark.parametrize(
    ("method", "status", "error"),
    [
        ("GET", 404, NotFound),
        ("POST", 409, AlreadyExists),
        ("PUT", 409, Conflict),
        ("GET", 410, Gone),
        ("PUT", 422, Invalid),
        ("PUT", 400, Invalid),
        ("GET", 401, Forbidden),
        ("GET", 403, Forbidden),
    ],
)
def test_failures_become_the_store_ports_errors(
    server: tuple[Script, KubeApi], method: str, status: int, error: type[StoreError]
) -> None:
    script, api = server
    script.statuses = [status]
    with pytest.raises(error, match=f"scripted {status}"):
        call(api, method)
    assert len(script.seen) == 1  # not retried: the answer is final


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_errors_are_retried(
    server: tuple[Script, KubeApi], status: int
) -> None:
    script, api = server
    script.statuses = [status, status, 200]
    assert call(api, "PUT") == {"kind": "Run", "metadata": {"name": "a"}}
    assert len(script.seen) == 3
    stats = api.statistics()
    assert (stats.retries, stats.requests["PUT"], stats.writes) == (2, 3, 3)


def test_a_server_that_never_recovers_is_unavailable_after_the_bound(
    server: tuple[Script, KubeApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, api = server
    monkeypatch.setattr(api_module, "RETRY_MAX_DELAY", 0.05)
    api.give_up_after = 0.2
    script.statuses = [503]
    with pytest.raises(Unavailable, match="HTTP 503"):
        call(api)
    assert len(script.seen) >= 3  # backed off and tried again before giving up


def test_an_unreachable_server_is_unavailable() -> None:
    configuration = k8s_client.Configuration(host="http://127.0.0.1:9")  # discard: refused
    api = KubeApi(k8s_client.ApiClient(configuration), give_up_after=0.1)
    with pytest.raises(Unavailable):
        call(api)
