"""The agent of one Runtime Pod: claim, execute, report, heartbeat, recover.

The agent owns every Run bound to its Pod (`assignedPod` and
`assignedPodUID`): it claims a `Scheduled` Run with a conditional write (so a
Run is never executed by two agents at once), drives the Runtime Server,
enforces `spec.timeout` and `spec.cancelRequested`, and writes the outcome.
After a restart it re-adopts executions the server still knows (`List`)
and reports the others as `ExecutionLost`, retried per policy.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import structlog
import trio
from attrs import evolve, field, frozen

from kruntimes import status
from kruntimes.agent.artifacts import ArtifactLimits, ArtifactsResult, collect_artifacts
from kruntimes.agent.execution import Classify, Ending, Retryable, next_version
from kruntimes.agent.logs import LogStore
from kruntimes.agent.outputs import OutputsResult, parse_outputs
from kruntimes.model import Phase, Run, RuntimePod
from kruntimes.runtimes.api import ExecuteRequest, LogChunk, RuntimeClient, RuntimeError_
from kruntimes.store.follow import follow
from kruntimes.store.port import Conflict, NotFound, Store, StoreError

log = structlog.get_logger("kruntimes.agent")

RunKey = tuple[str, str]
OUTPUTS_FILE = ".kruntime-outputs"
"""In the Run's working directory; `KRUNTIME_OUTPUTS` names it."""
ARTIFACTS_DIR = ".kruntime-artifacts"
"""In the Run's working directory; `KRUNTIME_ARTIFACTS_DIR` names it."""


@frozen
class AgentConfig:
    work_root: Path
    """Scratch directories, one per attempt, removed when it ends (`default_work_root`)."""
    artifact_root: Path
    heartbeat_interval: float = 5.0
    artifact_limits: ArtifactLimits = field(factory=ArtifactLimits)
    kill_wait: float = 10.0
    """After a cancel or timeout, how long to wait for the server to confirm the kill."""


def execution_id(run: Run) -> str:
    """Unique per attempt, so a duplicate Execute after a restart is recognised."""
    return f"{run.metadata.uid}-{run.status.attempt}"


class _Execution:
    __slots__ = ("cancel_requested", "id", "run", "scope")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.id = execution_id(run)
        self.scope: trio.CancelScope | None = None
        self.cancel_requested = False

    def request_cancel(self) -> None:
        self.cancel_requested = True
        if self.scope is not None:
            self.scope.cancel()


class Agent:
    """Runs the Runs of one Pod. Start with `nursery.start(agent.run)`, then `offer` Runs."""

    def __init__(
        self,
        store: Store,
        pod: RuntimePod,
        client: RuntimeClient,
        logs: LogStore,
        config: AgentConfig,
        *,
        classify: Classify | None = None,
        retryable: Retryable | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pod = pod
        self.client = client
        self.logs = logs
        self.config = config
        self._classify = classify
        self._retryable = retryable
        self._clock = clock
        self._active: dict[RunKey, _Execution] = {}
        self._by_id: dict[str, _Execution] = {}
        self._nursery: trio.Nursery | None = None
        self._closed = False
        self._early: dict[RunKey, tuple[Run, bool]] = {}
        """Offers that came before `run` started (a dispatcher may be attached first)."""
        self._slots = trio.Semaphore(max(1, pod.capacity.get("runs", 1)))

    # ----------------------------------------------------------------- lifecycle

    async def run(
        self,
        runs: AsyncIterator[Run] | None = None,
        *,
        watch: bool = True,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Heartbeat, recover, then take Runs from `runs`, or a store watch, or (with
        `watch=False`) only from `offer` calls (a dispatcher feeding many agents)."""
        try:
            await self._run(runs, watch=watch, task_status=task_status)
        finally:
            self._closed = True

    async def _run(self, runs: AsyncIterator[Run] | None, *, watch: bool, task_status: Any) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self._recover()
            for run, deleted in self._early.values():
                self.offer(run, deleted=deleted)
            self._early.clear()
            await self._heartbeat_once()  # only now may the scheduler count on this Pod
            nursery.start_soon(self._heartbeat_forever)
            task_status.started()
            if runs is not None:
                async for run in runs:
                    self.offer(run)
            elif watch:
                await self._watch()
            else:
                await trio.sleep_forever()

    def statistics(self) -> dict[str, int]:
        return {"active": len(self._active)}

    def is_active(self, key: RunKey) -> bool:
        """Whether a Run is executing here (cheap; safe to call from a watch's reader thread)."""
        return key in self._active

    def owns(self, run: Run) -> bool:
        s = run.status
        return s.assigned_pod == self.pod.name and s.assigned_pod_uid == self.pod.uid

    def offer(self, run: Run, *, deleted: bool = False) -> None:
        """A new version of some Run: start it if it is ours and Scheduled, cancel if asked."""
        if self._closed:
            return  # this agent is gone; the Pod's Runs are the reaper's now
        ex = self._active.get(run.key)
        if ex is not None:
            ex.run = run if not deleted else ex.run
            if (
                deleted
                or run.spec.cancel_requested
                or not self.owns(run)
                or run.status.phase.is_terminal
            ):
                ex.request_cancel()
            return
        if deleted or not self.owns(run) or run.status.phase is not Phase.SCHEDULED:
            return
        if self._nursery is None:
            self._early[run.key] = (run, deleted)
            return
        ex = _Execution(run)
        self._active[run.key] = ex
        self._nursery.start_soon(self._execute, ex, True)

    async def _watch(self) -> None:
        """Every Run of the namespace (the agent takes its own); re-lists after `Gone`."""
        await follow(
            self.store.list_runs,
            self.store.watch_runs,
            self.pod.namespace,
            lambda run, deleted: self.offer(run, deleted=deleted),
        )

    async def _heartbeat_once(self) -> None:
        healthy, message = await self.client.health()
        if healthy:
            await self.store.heartbeat_pod(self.pod.namespace, self.pod.name, self._clock())
        else:
            log.warning(
                "runtime server unhealthy; heartbeat withheld", pod=self.pod.name, why=message
            )

    async def _heartbeat_forever(self) -> None:
        while True:
            await trio.sleep(self.config.heartbeat_interval)
            try:
                await self._heartbeat_once()
            except (RuntimeError_, OSError, StoreError) as exc:
                log.warning("heartbeat failed", pod=self.pod.name, error=str(exc))

    async def _recover(self) -> None:
        """Re-adopt executions the server still knows; the rest of ours were lost."""
        listing = await self.store.list_runs(self.pod.namespace)
        known = {s.id for s in await self.client.list()}
        assert self._nursery is not None
        for run in listing.items:
            if self.owns(run) and run.status.phase is Phase.SCHEDULED:
                self.offer(run)  # bound before this agent listened: claim it now
                continue
            if not self.owns(run) or run.status.phase not in (Phase.RUNNING, Phase.READY):
                continue
            ex = _Execution(run)
            self._active[run.key] = ex
            if ex.id in known:
                self._nursery.start_soon(self._execute, ex, False)
            else:
                ending = Ending(None, lost="the agent restarted and the server does not know it")
                self._nursery.start_soon(self._finish, ex, ending)

    # ----------------------------------------------------------------- one Run

    async def _execute(self, ex: _Execution, start: bool) -> None:
        async with self._slots:
            try:
                if start:
                    claimed = await self._claim(ex.run)
                    if claimed is None:
                        return
                    ex.run = claimed
                self._by_id[ex.id] = ex
                ending = await self._attempt(ex, start)
            except RuntimeError_ as exc:
                ending = Ending(None, lost=f"runtime server failed: {exc}")
            except StoreError as exc:
                # The claim could not be written (refused, store gone): the Run stays bound
                # and unclaimed; the scheduler's stale detection unbinds it. One Run's
                # trouble must never stop this agent's others.
                self._active.pop(ex.run.key, None)
                log.error("claim failed; leaving the Run", run=ex.run.key, error=str(exc))
                return
            await self._finish(ex, ending)

    async def _claim(self, run: Run) -> Run | None:
        try:
            return await self.store.update_status(status.claimed(run, self._clock()))
        except (Conflict, NotFound):
            try:
                fresh = await self.store.get_run(*run.key)
            except NotFound:
                return None
            if self.owns(fresh) and fresh.status.phase is Phase.SCHEDULED:
                return await self._claim(fresh)
            return None

    def _workdir(self, run: Run) -> Path:
        ns, name = run.key
        return self.config.work_root / f"{ns}.{name}.{run.status.attempt}"

    def _request(self, run: Run, workdir: Path) -> ExecuteRequest:
        spec = run.spec
        env = {e.name: e.value for e in spec.env if e.value is not None}
        env.update(
            KRUNTIME_OUTPUTS=str(workdir / OUTPUTS_FILE),
            KRUNTIME_ARTIFACTS_DIR=str(workdir / ARTIFACTS_DIR),
            KRUNTIME_RUN_NAME=run.metadata.name,
            KRUNTIME_RUN_NAMESPACE=run.metadata.namespace,
            KRUNTIME_ATTEMPT=str(run.status.attempt),
        )
        task = spec.mode.task
        function = spec.mode.function
        return ExecuteRequest(
            id=execution_id(run),
            args=task.args if task else (),
            env=env,
            timeout_seconds=math.ceil(spec.timeout_seconds) if spec.timeout_seconds else 0,
            working_dir=str(workdir),
            entrypoint=task.entrypoint if task else "",
            handler=function.handler if function else "",
            source=spec.source.inline if spec.source else None,
            input=spec.extra.get("input") if isinstance(spec.extra.get("input"), str) else None,
            forget_on_finish=self.client.pushes_completion,
        )

    async def _attempt(self, ex: _Execution, start: bool) -> Ending:
        run = ex.run
        timeout = run.spec.timeout_seconds
        deadline = math.inf
        if timeout:
            started = run.status.start_time.timestamp() if run.status.start_time else self._clock()
            deadline = trio.current_time() + max(0.0, started + timeout - self._clock())
        if start:
            workdir = self._workdir(run)
            _make_workdir(workdir)
            request = self._request(run, workdir)
            if not self.client.pushes_completion:
                request = _for_executor_v1(request, run, workdir)
            await self.client.execute(request)
        with trio.CancelScope(deadline=deadline) as scope:
            ex.scope = scope
            if ex.cancel_requested or run.spec.cancel_requested:
                ex.cancel_requested = True
                scope.cancel()
            result = await self.client.wait(ex.id)
        if scope.cancelled_caught:
            with trio.CancelScope(shield=True):
                await self.client.cancel(ex.id)
                with trio.move_on_after(self.config.kill_wait):
                    await self.client.wait(ex.id)  # killed: its last output is flushed by now
            return Ending(None, timed_out=not ex.cancel_requested, cancelled=ex.cancel_requested)
        return Ending(result)

    async def _finish(self, ex: _Execution, ending: Ending) -> None:
        try:
            workdir = self._workdir(ex.run)
            outputs = _read_outputs(workdir)
            artifacts = ArtifactsResult(())
            source = workdir / ARTIFACTS_DIR
            finished = ending.status is not None and not (ending.cancelled or ending.timed_out)
            if finished and _has_entries(source):  # most Runs leave none: skip the thread hop
                ns, name = ex.run.key
                destination = self.config.artifact_root / ns / name / ex.id
                artifacts = await trio.to_thread.run_sync(
                    collect_artifacts, source, destination, self.config.artifact_limits
                )
            await self._write_outcome(ex, ending, outputs, artifacts)
            if ending.status is not None or ending.timed_out or ending.cancelled:
                await self.client.forget(ex.id)
        except RuntimeError_ as exc:
            log.warning("forget failed", run=ex.run.key, error=str(exc))
        finally:
            self._active.pop(ex.run.key, None)
            self._by_id.pop(ex.id, None)
            workdir = self._workdir(ex.run)
            if not _remove_if_untouched(workdir):  # the Run left files: off the event loop
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(_remove_tree, workdir)

    async def _write_outcome(
        self, ex: _Execution, ending: Ending, outputs: OutputsResult, artifacts: ArtifactsResult
    ) -> None:
        run = ex.run
        for _ in range(10):
            if not self.owns(run) or run.status.phase.is_terminal:
                return  # someone else moved it (reaped, cancelled): their word stands
            new = next_version(
                run,
                ending,
                outputs,
                artifacts,
                self._clock(),
                classify=self._classify or _keep,
                retryable=self._retryable or _none,
            )
            try:
                await self.store.update_status(new)
                return
            except Conflict:
                try:
                    run = await self.store.get_run(*run.key)
                except NotFound:
                    return
            except NotFound:
                return
            except StoreError as exc:  # refused or unreachable: the reaper retries the Run
                log.error("outcome not written", run=run.key, error=str(exc))
                return
        log.error("gave up writing the outcome after repeated conflicts", run=run.key)

    async def log_sink(self, chunk: LogChunk) -> None:
        """Where the Runtime Server's output goes: the log store, tagged with the Run."""
        ex = self._by_id.get(chunk.id)
        if ex is None:
            return
        ns, name = ex.run.key
        self.logs.append(ns, name, ex.run.metadata.uid, ex.run.status.attempt, chunk)


def _for_executor_v1(request: ExecuteRequest, run: Run, workdir: Path) -> ExecuteRequest:
    """The Go protocol has no inline source or input: the source becomes a file in the working
    directory (at `spec.source.inlinePath`, default `main`) run as the entrypoint, and a
    function's input travels in `KRUNTIME_INPUT`."""
    env = dict(request.env)
    if request.input is not None:
        env["KRUNTIME_INPUT"] = request.input
    entrypoint = request.entrypoint
    if request.source is not None:
        source = run.spec.source
        entrypoint = (source.inline_path if source and source.inline_path else None) or "main"
        target = workdir / entrypoint
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(request.source)
    return evolve(request, source=None, input=None, env=env, entrypoint=entrypoint)


def _keep(run: Run, exit_code: int | None, message: str, reason: str) -> str:
    return reason


def _none(run: Run, reason: str) -> bool | None:
    return None


def _has_entries(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is not None
    except FileNotFoundError:
        return False


def _make_workdir(workdir: Path) -> None:
    """Two `mkdir`s per attempt, flat under the work root (each level costs a syscall)."""
    try:
        workdir.mkdir(exist_ok=True)
    except FileNotFoundError:
        workdir.mkdir(parents=True, exist_ok=True)
    (workdir / ARTIFACTS_DIR).mkdir(exist_ok=True)


def _remove_if_untouched(workdir: Path) -> bool:
    """Remove the scratch directory inline when it holds only what the agent put there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(workdir / OUTPUTS_FILE)  # read already
    try:
        os.rmdir(workdir / ARTIFACTS_DIR)
        os.rmdir(workdir)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _remove_tree(path: Path) -> None:
    """Scratch space is removed once the outcome is written (outputs and artifacts are copied)."""
    shutil.rmtree(path, ignore_errors=True)


def _read_outputs(workdir: Path) -> OutputsResult:
    path = workdir / OUTPUTS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return OutputsResult({})
    return parse_outputs(data)
