"""`KubeApi`: the official `kubernetes` client's connection, driven from trio through threads.

Requests go through the client's configuration (kubeconfig or in-cluster,
token refresh, TLS) and its urllib3 pool, but bodies are plain JSON: the
adapter works on dicts, which is several times cheaper than the client's
generated models. Every blocking call runs in a worker thread under one
capacity limiter; watch streams run in a thread each and feed a bounded trio
channel. HTTP failures become the store port's errors; 429, 5xx and refused
connections are retried with capped exponential backoff, because a restarting
apiserver must not lose a controller's work.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import trio
from attrs import frozen
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.watch.watch import iter_resp_lines

from kruntimes.store.port import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    StoreError,
    Unavailable,
)

RETRY_FIRST_DELAY = 0.05
RETRY_MAX_DELAY = 2.0
RETRY_GIVE_UP_AFTER = 60.0
"""Seconds of failed attempts before a call raises `Unavailable` (an apiserver restart takes ~5)."""
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@frozen
class ApiStatistics:
    """Requests sent (retries included), by HTTP method, and how many were retried."""

    requests: Mapping[str, int]
    retries: int

    @property
    def writes(self) -> int:
        return sum(n for method, n in self.requests.items() if method in _WRITES)


class KubeApi:
    """One connection to a kube-apiserver; build it with `from_kubeconfig` or `in_cluster`."""

    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str = "default",
        threads: int = 32,
        give_up_after: float | None = None,
    ) -> None:
        self._client = api_client
        self.give_up_after = RETRY_GIVE_UP_AFTER if give_up_after is None else give_up_after
        """Seconds of retried failures before a call raises (a CLI wants less than a minute)."""
        self.namespace = namespace
        """The kubeconfig context's namespace (or the Pod's, in a cluster)."""
        self._limiter = trio.CapacityLimiter(threads)
        self._counts: Counter[str] = Counter()
        self._retries = 0
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | Path | None = None,
        *,
        context: str | None = None,
        threads: int = 32,
        give_up_after: float | None = None,
    ) -> KubeApi:
        """Read a kubeconfig (default: `$KUBECONFIG` or `~/.kube/config`), like kubectl."""
        configuration = k8s_client.Configuration()
        config_file = None if path is None else str(path)
        k8s_config.load_kube_config(
            config_file=config_file, context=context, client_configuration=configuration
        )
        configuration.connection_pool_maxsize = threads
        _, active = k8s_config.list_kube_config_contexts(config_file)
        if context is not None:
            contexts, _ = k8s_config.list_kube_config_contexts(config_file)
            active = next(c for c in contexts if c["name"] == context)
        namespace = (active or {}).get("context", {}).get("namespace") or "default"
        return cls(
            k8s_client.ApiClient(configuration),
            namespace=namespace,
            threads=threads,
            give_up_after=give_up_after,
        )

    @classmethod
    def in_cluster(cls, *, threads: int = 32) -> KubeApi:
        """The Pod's service account; the namespace is the Pod's."""
        configuration = k8s_client.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
        configuration.connection_pool_maxsize = threads
        ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
        return cls(k8s_client.ApiClient(configuration), namespace=namespace, threads=threads)

    @classmethod
    def connect(
        cls,
        kubeconfig: str | Path | None = None,
        *,
        context: str | None = None,
        give_up_after: float | None = None,
    ) -> KubeApi:
        """In-cluster when running in a Pod and no kubeconfig is given, else the kubeconfig."""
        in_pod = Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists()
        if kubeconfig is None and context is None and in_pod:
            api = cls.in_cluster()
            api.give_up_after = api.give_up_after if give_up_after is None else give_up_after
            return api
        return cls.from_kubeconfig(kubeconfig, context=context, give_up_after=give_up_after)

    def statistics(self) -> ApiStatistics:
        with self._lock:
            return ApiStatistics(dict(self._counts), self._retries)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One call; the decoded JSON answer. Raises the store port's errors."""
        return await trio.to_thread.run_sync(
            self.request_sync, method, path, query, body, content_type, limiter=self._limiter
        )

    def request_sync(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """`request` for code already in a worker thread."""
        response = self._send(method, path, query, body, content_type, stream=False)
        raw = response.read()
        return json.loads(raw) if raw else None

    def open_stream(self, path: str, query: Mapping[str, str]) -> Any:
        """A streaming GET (a watch); the urllib3 response. Blocking: call in a thread."""
        return self._send("GET", path, query, None, "application/json", stream=True).response

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        data: Any,
        content_type: str,
        *,
        stream: bool,
    ) -> Any:
        """Send with retries; the client serialises `data` as JSON (for any `+json` type)."""
        url_path = path + ("?" + urlencode(query) if query else "")
        delay = RETRY_FIRST_DELAY
        waited = 0.0
        while True:
            _, url, headers, _, _ = self._client.param_serialize(
                method, url_path, auth_settings=["BearerToken"]
            )
            headers["Accept"] = "application/json"
            if data is not None:
                headers["Content-Type"] = content_type
            with self._lock:
                self._counts[method] += 1
            try:
                response = self._client.call_api(
                    method, url, headers, data, _request_timeout=None if stream else 60
                )
            except k8s_client.ApiException as error:
                failure: StoreError | None = Unavailable(f"{method} {path}: {error.reason}")
            except Exception as error:  # urllib3 connection errors: nothing was sent
                failure = Unavailable(f"{method} {path}: {error}")
            else:
                if 200 <= response.status < 300:
                    return response
                if response.status not in _RETRIED_STATUS:
                    raise error_for(response.status, _message(response), method, path)
                failure = error_for(response.status, _message(response), method, path)
            if waited >= self.give_up_after and failure is not None:
                raise failure
            with self._lock:
                self._retries += 1
            threading.Event().wait(delay)
            waited += delay
            delay = min(delay * 2, RETRY_MAX_DELAY)


def error_for(status: int, message: str, method: str, path: str) -> StoreError:
    """The store port's error for an HTTP failure status."""
    text = f"{method} {path}: {message}"
    if status == 404:
        return NotFound(text)
    if status == 409:
        return AlreadyExists(text) if method == "POST" else Conflict(text)
    if status == 410:
        return Gone(text)
    if status in (400, 422):
        return Invalid(text)
    if status in (401, 403):
        return Forbidden(text)
    return Unavailable(f"HTTP {status}: {text}")


def _message(response: Any) -> str:
    raw: bytes = response.read()
    try:
        status = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:2000]
    if isinstance(status, dict):
        return str(status.get("message", status))
    return str(status)


def stream_lines(response: Any, on_line: Callable[[dict[str, Any]], bool]) -> None:
    """Feed each JSON line of a watch stream to `on_line` until it returns False or it ends."""
    for line in iter_resp_lines(response):
        if line and not on_line(json.loads(line)):
            return
