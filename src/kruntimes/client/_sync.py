"""`Client`: the `AsyncClient` API for synchronous code (scripts, notebooks, tests).

Each call runs in a trio loop: the client's own, on a background thread, or
the loop that owns the store (`trio_token=`), e.g. an engine already running
in this process. `Client.embedded()` starts an engine on the client's loop.
"""

from __future__ import annotations

import builtins
import functools
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import trio

from kruntimes.client._async import DEFAULT_CONCURRENCY, AsyncClient
from kruntimes.client._batch import Progress
from kruntimes.client._portal import Portal
from kruntimes.client._types import Applied, LogEntry
from kruntimes.client._watching import OnDone
from kruntimes.engine.embedded import EmbeddedEngine, EngineConfig
from kruntimes.model import Phase, Run, RunQueue, RunQueueSpec, RunSpec, Runtime, RuntimePod
from kruntimes.store import Store

T = TypeVar("T")


class Client:
    """Synchronous client; see `AsyncClient` for what each method does."""

    def __init__(
        self, client: AsyncClient, *, trio_token: trio.lowlevel.TrioToken | None = None
    ) -> None:
        self.async_client = client
        self._portal = Portal() if trio_token is None else None
        self._token = trio_token if self._portal is None else self._portal.token
        self.engine: EmbeddedEngine | None = None
        """The engine `embedded()` started, if any."""
        self._temporary: Path | None = None

    @classmethod
    def connect(
        cls,
        state_dir: str | PathLike[str] | None = None,
        *,
        socket_path: str | PathLike[str] | None = None,
        namespace: str = "default",
    ) -> Client:
        """A client of the engine `krt up` runs (`$KRUNTIMES_STATE_DIR` or the default)."""
        return cls(AsyncClient.connect(state_dir, socket_path=socket_path, namespace=namespace))

    @classmethod
    def connect_kubernetes(
        cls,
        kubeconfig: str | PathLike[str] | None = None,
        *,
        context: str | None = None,
        namespace: str | None = None,
        give_up_after: float | None = None,
    ) -> Client:
        """A client of a Kubernetes cluster (see `AsyncClient.connect_kubernetes`)."""
        client = AsyncClient.connect_kubernetes(
            kubeconfig, context=context, namespace=namespace, give_up_after=give_up_after
        )
        return cls(client)

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        namespace: str = "default",
        logs_dir: Path | None = None,
        trio_token: trio.lowlevel.TrioToken | None = None,
    ) -> Client:
        """A client of any `Store`; pass the `trio_token` of the loop the store lives in."""
        client = AsyncClient(store, namespace=namespace, logs_dir=logs_dir)
        return cls(client, trio_token=trio_token)

    @classmethod
    def embedded(cls, config: EngineConfig | None = None) -> Client:
        """Start an engine in this process; `close()` stops it.

        Without `config` it keeps everything in memory and in a temporary state
        directory (removed on close), and serves its socket there too.
        """
        temporary = None
        if config is None:
            temporary = Path(tempfile.mkdtemp(prefix="krt-"))
            config = EngineConfig(state_dir=temporary, persist=False)
        engine = EmbeddedEngine(config)
        portal = Portal()
        try:
            portal.start(engine.run)
            portal.call(engine.wait_until_ready)
        except BaseException:
            portal.close()
            if temporary is not None:
                shutil.rmtree(temporary, ignore_errors=True)
            raise
        assert engine.store is not None
        logs = config.state_dir / "logs"
        started = cls(
            AsyncClient(engine.store, namespace=config.namespace, logs_dir=logs),
            trio_token=portal.token,
        )
        started._portal, started.engine, started._temporary = portal, engine, temporary
        return started

    def close(self) -> None:
        """Close the store connections, stop an embedded engine and the client's loop.

        Idempotent; a client that only borrowed another loop (`trio_token=`) closes nothing.
        """
        portal, self._portal = self._portal, None
        if portal is not None:
            self._call(self.async_client.aclose)
            portal.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def namespace(self) -> str:
        return self.async_client.namespace

    @property
    def trio_token(self) -> trio.lowlevel.TrioToken | None:
        """The loop this client's calls run in (give it to `from_store` to share a store)."""
        return self._token

    def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        return trio.from_thread.run(fn, trio_token=self._token)

    def submit(self, run_or_spec: Run | RunSpec, name: str | None = None) -> Run:
        return self._call(functools.partial(self.async_client.submit, run_or_spec, name))

    def submit_many(
        self,
        items: Iterable[Run | RunSpec],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: Progress | None = None,
    ) -> builtins.list[Run]:
        c = self.async_client
        return self._call(
            functools.partial(
                c.submit_many, list(items), concurrency=concurrency, on_progress=on_progress
            )
        )

    def run(
        self, run_or_spec: Run | RunSpec, name: str | None = None, *, timeout: float | None = None
    ) -> Run:
        return self._call(
            functools.partial(self.async_client.run, run_or_spec, name, timeout=timeout)
        )

    def get(self, name: str) -> Run:
        return self._call(functools.partial(self.async_client.get, name))

    def list(
        self,
        *,
        runtime: str | None = None,
        phase: Phase | str | None = None,
        all_namespaces: bool = False,
    ) -> builtins.list[Run]:
        c = self.async_client
        return self._call(
            functools.partial(c.list, runtime=runtime, phase=phase, all_namespaces=all_namespaces)
        )

    def runtimes(self) -> builtins.list[Runtime]:
        return self._call(self.async_client.runtimes)

    def get_runtime(self, name: str) -> Runtime:
        return self._call(functools.partial(self.async_client.get_runtime, name))

    def create_run_queue(
        self, queue_or_spec: RunQueue | RunQueueSpec, name: str | None = None
    ) -> RunQueue:
        c = self.async_client
        return self._call(functools.partial(c.create_run_queue, queue_or_spec, name))

    def get_run_queue(self, name: str) -> RunQueue:
        return self._call(functools.partial(self.async_client.get_run_queue, name))

    def list_run_queues(self, *, all_namespaces: bool = False) -> builtins.list[RunQueue]:
        c = self.async_client
        return self._call(functools.partial(c.list_run_queues, all_namespaces=all_namespaces))

    def delete_run_queue(self, name: str) -> None:
        self._call(functools.partial(self.async_client.delete_run_queue, name))

    def pods(self, runtime: str | None = None) -> builtins.list[RuntimePod]:
        return self._call(functools.partial(self.async_client.pods, runtime))

    def wait(self, name: str, *, timeout: float | None = None) -> Run:
        return self._call(functools.partial(self.async_client.wait, name, timeout=timeout))

    def wait_all(
        self,
        names: Iterable[str],
        *,
        timeout: float | None = None,
        on_done: OnDone | None = None,
    ) -> builtins.list[Run]:
        c = self.async_client
        return self._call(
            functools.partial(c.wait_all, list(names), timeout=timeout, on_done=on_done)
        )

    def wait_runtime_ready(
        self, name: str, *, timeout: float | None = None
    ) -> builtins.list[RuntimePod]:
        return self._call(
            functools.partial(self.async_client.wait_runtime_ready, name, timeout=timeout)
        )

    def cancel(self, name: str) -> Run:
        return self._call(functools.partial(self.async_client.cancel, name))

    def logs(self, name: str, *, follow: bool = False) -> Iterator[LogEntry]:
        entries = self.async_client.logs(name, follow=follow)
        try:
            while True:
                try:
                    entry = self._call(entries.__anext__)
                except StopAsyncIteration:
                    return
                yield entry
        finally:
            self._call(entries.aclose)

    def apply(
        self,
        objects: Iterable[Run | Runtime | RunQueue],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: Progress | None = None,
    ) -> builtins.list[Applied]:
        c = self.async_client
        return self._call(
            functools.partial(
                c.apply, list(objects), concurrency=concurrency, on_progress=on_progress
            )
        )
