"""`AsyncClient`: submit, wait for, follow, cancel and list Runs through any `Store`, in trio.

The client adds what a store does not: generated names, client-side
validation (every field error at once, before anything is sent), batches
with bounded concurrency, waits that watch instead of polling, idempotent
cancel, and the Runs' logs. Public methods raise `ValidationError`,
`kruntimes.store` errors (`NotFound`, `Unavailable`, ...), `BatchError` or
`TimeoutError`, never an exception group.
"""

from __future__ import annotations

import builtins
import functools
import math
import os
from collections.abc import AsyncGenerator, Iterable
from os import PathLike
from pathlib import Path
from types import TracebackType

import trio
from attrs import evolve

from kruntimes.agent.logs import LogStore
from kruntimes.client._batch import CONFLICT_RETRIES, Progress, apply_objects, gather
from kruntimes.client._logs import LogTail, follow_log
from kruntimes.client._types import (
    Applied,
    BatchError,
    KubeconfigError,
    LogEntry,
    LogsUnavailable,
    new_run_name,
)
from kruntimes.client._watching import OnDone, until_pods_ready, until_terminal
from kruntimes.codec import ValidationError, validate_run, validate_run_queue
from kruntimes.engine.embedded import default_state_dir
from kruntimes.model import (
    ObjectMeta,
    Phase,
    Run,
    RunQueue,
    RunQueueSpec,
    RunSpec,
    Runtime,
    RuntimePod,
)
from kruntimes.store import (
    AlreadyExists,
    Conflict,
    Kind,
    RemoteStore,
    Store,
)

STATE_DIR_ENV = "KRUNTIMES_STATE_DIR"
AGENT_WORK_ROOT = "/workspace"
"""Where the `kruntimes-agent` sidecar keeps its files (`KRUNTIMES_WORK_ROOT` by default)."""
DEFAULT_CONCURRENCY = 16
_NAME_DRAWS = 5


def resolve_state_dir(path: str | PathLike[str] | None = None) -> Path:
    """`path`, else `$KRUNTIMES_STATE_DIR`, else the engine's default state directory."""
    if path is not None:
        return Path(path)
    env = os.environ.get(STATE_DIR_ENV)
    return Path(env) if env else default_state_dir()


class AsyncClient:
    """A client of one namespace of `store`; `logs_dir` is where the engine keeps Run logs."""

    def __init__(
        self,
        store: Store,
        *,
        namespace: str = "default",
        logs_dir: Path | None = None,
        close_store: bool = False,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.logs_dir = logs_dir
        self._close_store = close_store
        self.kubernetes = False
        """Whether the store is a cluster's apiserver (`connect_kubernetes`): no logs here."""

    @classmethod
    def connect(
        cls,
        state_dir: str | PathLike[str] | None = None,
        *,
        socket_path: str | PathLike[str] | None = None,
        namespace: str = "default",
        max_connections: int = DEFAULT_CONCURRENCY,
    ) -> AsyncClient:
        """A client of the engine serving `<state dir>/engine.sock` (see `resolve_state_dir`).

        Nothing is opened until the first call; no engine there means `Unavailable` then.
        """
        root = resolve_state_dir(state_dir)
        socket = Path(socket_path) if socket_path is not None else root / "engine.sock"
        store = RemoteStore(socket, max_idle=max_connections)
        return cls(store, namespace=namespace, logs_dir=root / "logs", close_store=True)

    @classmethod
    def connect_kubernetes(
        cls,
        kubeconfig: str | PathLike[str] | None = None,
        *,
        context: str | None = None,
        namespace: str | None = None,
        give_up_after: float | None = None,
    ) -> AsyncClient:
        """A client of the kruntimes CRDs on a Kubernetes cluster, as kubectl would reach it.

        `give_up_after`: seconds of retrying an unreachable or overloaded apiserver
        before a call raises `Unavailable` (default: a minute, which outlasts a restart).

        `kubeconfig` defaults to `$KUBECONFIG` or `~/.kube/config` (in a Pod, without
        arguments: its service account); `context` to the current one; `namespace`
        to the context's. Only the kubeconfig is read here (`KubeconfigError` if it
        cannot be used); the apiserver is first asked on the first call. Run logs
        stay in the cluster: `logs()` raises `LogsUnavailable`.
        """
        from kruntimes.adapters.kubernetes.api import KubeApi  # lazily: loads kubernetes
        from kruntimes.adapters.kubernetes.store import KubeStore

        path = None if kubeconfig is None else Path(kubeconfig).expanduser()
        try:
            api = KubeApi.connect(path, context=context, give_up_after=give_up_after)
        except Exception as exc:  # the kubernetes client's ConfigException, OSError, YAML
            where = str(path) if path is not None else "the default kubeconfig"
            which = f" (context {context})" if context is not None else ""
            raise KubeconfigError(f"cannot use {where}{which}: {exc}") from exc
        client = cls(KubeStore(api), namespace=namespace or api.namespace, close_store=True)
        client.kubernetes = True
        return client

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._close_store:
            await self.store.aclose()

    # ------------------------------------------------------------------ submit

    async def submit(self, run_or_spec: Run | RunSpec, name: str | None = None) -> Run:
        """Create one Run in this namespace; without a name it gets `run-<8 hex>`.

        Raises `ValidationError` (every field error) before sending anything.
        """
        run, generated = self._prepare(run_or_spec, name)
        problems = validate_run(run)
        if problems:
            raise ValidationError(problems)
        return await self._create(run, generated)

    async def submit_many(
        self,
        items: Iterable[Run | RunSpec],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: Progress | None = None,
    ) -> builtins.list[Run]:
        """Create many Runs, `concurrency` at a time; all are validated before any is sent.

        Returns the stored Runs in input order, or raises `BatchError` listing the
        ones that failed (the others were created).
        """
        prepared = [self._prepare(item, None) for item in items]
        problems = [
            e.under(f"[{i}]") for i, (run, _) in enumerate(prepared) for e in validate_run(run)
        ]
        if problems:
            raise ValidationError(problems)
        calls = [functools.partial(self._create, run, generated) for run, generated in prepared]
        results, errors = await gather(calls, concurrency, on_progress)
        created = [r for r in results if r is not None]
        if errors:
            raise BatchError(created, errors)
        return created

    async def run(
        self, run_or_spec: Run | RunSpec, name: str | None = None, *, timeout: float | None = None
    ) -> Run:
        """Submit and wait: the Run in its terminal phase."""
        created = await self.submit(run_or_spec, name)
        return await self.wait(created.metadata.name, timeout=timeout)

    def _prepare(self, run_or_spec: Run | RunSpec, name: str | None) -> tuple[Run, bool]:
        """The Run to create in this namespace, and whether its name was generated here."""
        if isinstance(run_or_spec, RunSpec):
            run = Run(ObjectMeta(name=name or "", namespace=self.namespace), run_or_spec)
        else:
            meta = evolve(run_or_spec.metadata, namespace=self.namespace)
            run = evolve(run_or_spec, metadata=evolve(meta, name=name) if name else meta)
        if run.metadata.name or "generateName" in run.metadata.extra:
            return run, False
        return evolve(run, metadata=evolve(run.metadata, name=new_run_name())), True

    async def _create(self, run: Run, generated: bool) -> Run:
        """Create `run`; a generated name that is taken (very unlikely) is drawn again."""
        for _ in range(_NAME_DRAWS):
            try:
                return await self.store.create(run)
            except AlreadyExists:
                if not generated:
                    raise
                run = evolve(run, metadata=evolve(run.metadata, name=new_run_name()))
        return await self.store.create(run)

    # ------------------------------------------------------------------ read

    async def get(self, name: str) -> Run:
        return await self.store.get_run(self.namespace, name)

    async def list(
        self,
        *,
        runtime: str | None = None,
        phase: Phase | str | None = None,
        all_namespaces: bool = False,
    ) -> builtins.list[Run]:
        """Runs of this namespace (or all), optionally of one runtime and one phase."""
        listing = await self.store.list_runs(None if all_namespaces else self.namespace)
        wanted = Phase(phase) if phase is not None else None
        return [
            run
            for run in listing.items
            if (runtime is None or run.spec.runtime == runtime)
            and (wanted is None or run.status.phase is wanted)
        ]

    async def runtimes(self) -> builtins.list[Runtime]:
        return list((await self.store.list_runtimes(self.namespace)).items)

    async def get_runtime(self, name: str) -> Runtime:
        return await self.store.get_runtime(self.namespace, name)

    # ------------------------------------------------------------------ run queues

    async def create_run_queue(
        self, queue_or_spec: RunQueue | RunQueueSpec, name: str | None = None
    ) -> RunQueue:
        """Create a RunQueue in this namespace (`name` is required with a bare spec).

        Raises `ValidationError` (every field error) before sending anything, and
        `AlreadyExists` for a taken name: use `apply` to create or update.
        """
        if isinstance(queue_or_spec, RunQueueSpec):
            queue = RunQueue(ObjectMeta(name=name or "", namespace=self.namespace), queue_or_spec)
        else:
            meta = evolve(queue_or_spec.metadata, namespace=self.namespace)
            queue = evolve(queue_or_spec, metadata=evolve(meta, name=name) if name else meta)
        problems = validate_run_queue(queue)
        if problems:
            raise ValidationError(problems)
        return await self.store.create(queue)

    async def get_run_queue(self, name: str) -> RunQueue:
        return await self.store.get_run_queue(self.namespace, name)

    async def list_run_queues(self, *, all_namespaces: bool = False) -> builtins.list[RunQueue]:
        """RunQueues of this namespace (or all), with the status the scheduler last wrote."""
        listing = await self.store.list_run_queues(None if all_namespaces else self.namespace)
        return list(listing.items)

    async def delete_run_queue(self, name: str) -> None:
        """Delete a RunQueue; its Runs keep waiting (`NoQueue`) until one of that name exists."""
        await self.store.delete(Kind.RUN_QUEUE, self.namespace, name)

    async def pods(self, runtime: str | None = None) -> builtins.list[RuntimePod]:
        """The Runtime Pods of this namespace (of one runtime), as the scheduler sees them."""
        items = (await self.store.list_pods(self.namespace)).items
        return [p for p in items if runtime is None or p.runtime == runtime]

    # ------------------------------------------------------------------ wait

    async def wait_runtime_ready(
        self, name: str, *, timeout: float | None = None
    ) -> builtins.list[RuntimePod]:
        """The Runtime's Pods once all its replicas are up (they heartbeat)."""
        limit = math.inf if timeout is None else timeout
        with trio.move_on_after(limit):
            return await until_pods_ready(self.store, self.namespace, name)
        raise TimeoutError(f"Runtime {name} not ready after {limit:g}s")

    async def wait(self, name: str, *, timeout: float | None = None) -> Run:
        """The Run once it is terminal (Succeeded, Failed, Timeout or Cancelled)."""
        (run,) = await self.wait_all([name], timeout=timeout)
        return run

    async def wait_all(
        self,
        names: Iterable[str],
        *,
        timeout: float | None = None,
        on_done: OnDone | None = None,
    ) -> builtins.list[Run]:
        """Every Run in `names` once terminal, in the same order, through one watch.

        `on_done` is called as each Run finishes; `TimeoutError` after `timeout` seconds.
        """
        wanted = list(names)
        limit = math.inf if timeout is None else timeout
        with trio.move_on_after(limit):
            done = await until_terminal(self.store, self.namespace, wanted, on_done)
            return [done[name] for name in wanted]
        what = f"Run {wanted[0]}" if len(wanted) == 1 else f"{len(wanted)} Runs"
        raise TimeoutError(f"{what} not finished after {limit:g}s")

    # ------------------------------------------------------------------ cancel

    async def cancel(self, name: str) -> Run:
        """Ask for the Run to stop (`spec.cancelRequested`); a no-op once asked or finished."""
        for _ in range(CONFLICT_RETRIES):
            run = await self.get(name)
            if run.spec.cancel_requested or run.status.phase.is_terminal:
                return run
            try:
                return await self.store.update_spec(
                    evolve(run, spec=evolve(run.spec, cancel_requested=True))
                )
            except Conflict:
                continue
        raise Conflict(f"Run {self.namespace}/{name} kept changing; cancel did not land")

    # ------------------------------------------------------------------ logs

    async def logs(self, name: str, *, follow: bool = False) -> AsyncGenerator[LogEntry, None]:
        """The Run's output so far; with `follow`, also what comes until the Run is terminal.

        Use `contextlib.aclosing` when you may stop iterating early.
        """
        if self.kubernetes:
            raise LogsUnavailable(await self._cluster_logs_hint(name))
        if self.logs_dir is None:
            raise LogsUnavailable("this client has no log directory (give logs_dir=...)")
        tail = LogTail(LogStore(self.logs_dir).path(self.namespace, name))
        if not follow:
            await self.get(name)
            for entry in tail.read_new():
                yield entry
            return
        async for entry in follow_log(self.store, self.namespace, name, tail):
            yield entry

    async def _cluster_logs_hint(self, name: str) -> str:
        """Where a Run's log is on a cluster, and the kubectl command that reads it."""
        run = await self.get(name)  # NotFound for an unknown Run, as in embedded mode
        ns = self.namespace
        pod = run.status.assigned_pod
        where = pod or "<pod>"
        command = (
            f"kubectl exec -n {ns} {where} -c kruntimes-agent -- "
            f"cat {AGENT_WORK_ROOT}/logs/{ns}/{name}.jsonl"
        )
        ran = f"its Pod {pod}" if pod else "the Pod that runs it (none yet)"
        return (
            f"the logs of Run {ns}/{name} are not readable through the Kubernetes API; "
            f"they stay in {ran}: {command} "
            "(see docs/client.md, 'Against a Kubernetes cluster')"
        )

    # ------------------------------------------------------------------ apply

    async def apply(
        self,
        objects: Iterable[Run | Runtime | RunQueue],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: Progress | None = None,
    ) -> builtins.list[Applied]:
        """Create each object, or bring an existing one's spec, labels and annotations to it.

        Objects keep their own namespaces. Runtimes and RunQueues go first, one by
        one, so new pools and queues exist before Runs arrive. Everything is
        validated before anything is sent; store errors raise `BatchError` after
        the rest went through.
        """
        return await apply_objects(self.store, list(objects), concurrency, on_progress)
