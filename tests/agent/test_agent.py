"""The agent against a real MemoryStore and a scripted Runtime Server client."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing
from attrs import evolve

from kruntimes import status
from kruntimes.agent.agent import Agent, AgentConfig
from kruntimes.agent.logs import LogStore
from kruntimes.model import ObjectMeta, Phase, RetryPolicy, Run, RunSource, RunSpec, RuntimePod
from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, ExecutionStatus
from kruntimes.store import EventType, MemoryStore

POD = RuntimePod("p", "bash", uid="pod-uid", capacity={"runs": 2})


class ScriptedClient:
    """Finishes executions when told to; records what it was asked."""

    def __init__(self, *, pushes: bool = True) -> None:
        self.pushes_completion = pushes
        self.requests: list[ExecuteRequest] = []
        self.sources: dict[str, str] = {}
        self.cancelled: list[str] = []
        self.forgotten: list[str] = []
        self.finish: dict[str, trio.Event] = {}
        self.listed: list[ExecutionStatus] = []

    async def execute(self, request: ExecuteRequest) -> None:
        self.requests.append(request)
        if request.entrypoint:
            self.sources[request.id] = (Path(request.working_dir) / request.entrypoint).read_text()
        self.finish[request.id] = trio.Event()

    async def wait(self, id: str) -> ExecutionStatus:
        await self.finish[id].wait()
        if id in self.cancelled:
            return ExecutionStatus(id, ExecutionState.FAILED, error_message="Cancelled: killed")
        return ExecutionStatus(id, ExecutionState.SUCCEEDED, stdout="ok\n")

    async def status(self, id: str) -> ExecutionStatus:
        return ExecutionStatus(id, ExecutionState.RUNNING)

    async def cancel(self, id: str) -> None:
        self.cancelled.append(id)
        self.finish[id].set()

    async def forget(self, id: str) -> None:
        self.forgotten.append(id)

    async def list(self) -> list[ExecutionStatus]:
        return self.listed

    async def health(self) -> tuple[bool, str]:
        return True, ""

    async def aclose(self) -> None:
        pass


async def bound_run(store: MemoryStore, name: str, **spec: object) -> Run:
    run = await store.create(Run(ObjectMeta(name=name), RunSpec(runtime="bash", **spec)))  # type: ignore[arg-type]
    return await store.update_status(status.bound(run, POD.name, POD.uid, 1.0))


async def final_version(store: MemoryStore, key: tuple[str, str], rv: str) -> Run:
    async with store.watch_runs(rv) as events:
        async for event in events:
            run = event.object
            if (
                event.type is not EventType.DELETED
                and run
                and run.key == key
                and run.status.phase.is_terminal
            ):
                return run
    raise AssertionError("watch ended")


def with_agent(tmp_path: Path, client: ScriptedClient, body) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = MemoryStore()
        await store.put_pod(POD)
        config = AgentConfig(work_root=tmp_path / "work", artifact_root=tmp_path / "artifacts")
        agent = Agent(store, POD, client, LogStore(tmp_path / "logs"), config)  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            await nursery.start(agent.run)
            with trio.fail_after(10):
                await body(store, agent)
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_claim_execute_succeed_and_clean_up(tmp_path: Path) -> None:
    client = ScriptedClient()

    async def body(store: MemoryStore, agent: Agent) -> None:
        rv = (await store.list_runs()).resource_version
        run = await bound_run(store, "r")
        await trio.testing.wait_all_tasks_blocked()
        request = client.requests[0]
        assert request.id == f"{run.metadata.uid}-1"
        assert request.forget_on_finish
        assert request.env["KRUNTIME_RUN_NAME"] == "r"
        running = await store.get_run("default", "r")
        assert running.status.phase is Phase.RUNNING
        client.finish[request.id].set()
        final = await final_version(store, run.key, rv)
        assert final.status.phase is Phase.SUCCEEDED
        assert client.forgotten == [request.id]

    with_agent(tmp_path, client, body)
    assert not Path(client.requests[0].working_dir).exists()  # scratch space is removed


def test_cancel_requested_while_running(tmp_path: Path) -> None:
    client = ScriptedClient()

    async def body(store: MemoryStore, agent: Agent) -> None:
        rv = (await store.list_runs()).resource_version
        run = await bound_run(store, "c")
        await trio.testing.wait_all_tasks_blocked()
        fresh = await store.get_run("default", "c")
        changed = await store.update_spec(
            evolve(fresh, spec=evolve(fresh.spec, cancel_requested=True))
        )
        agent.offer(changed)
        final = await final_version(store, run.key, rv)
        assert final.status.phase is Phase.CANCELLED
        assert client.cancelled == [client.requests[0].id]

    with_agent(tmp_path, client, body)


def test_timeout(tmp_path: Path) -> None:
    client = ScriptedClient()

    async def body(store: MemoryStore, agent: Agent) -> None:
        rv = (await store.list_runs()).resource_version
        run = await bound_run(store, "t", timeout_seconds=0.05)
        final = await final_version(store, run.key, rv)
        assert final.status.phase is Phase.TIMEOUT
        assert client.cancelled

    with_agent(tmp_path, client, body)


def test_executor_v1_servers_get_inline_source_as_a_file(tmp_path: Path) -> None:
    client = ScriptedClient(pushes=False)

    async def body(store: MemoryStore, agent: Agent) -> None:
        rv = (await store.list_runs()).resource_version
        run = await bound_run(store, "g", source=RunSource(inline="echo from a file"))
        await trio.testing.wait_all_tasks_blocked()
        request = client.requests[0]
        assert (request.source, request.entrypoint, request.forget_on_finish) == (
            None,
            "main",
            False,
        )
        assert client.sources[request.id] == "echo from a file"
        client.finish[request.id].set()
        assert (await final_version(store, run.key, rv)).status.phase is Phase.SUCCEEDED

    with_agent(tmp_path, client, body)


def test_runs_of_other_pods_are_left_alone(tmp_path: Path) -> None:
    client = ScriptedClient()

    async def body(store: MemoryStore, agent: Agent) -> None:
        run = await store.create(Run(ObjectMeta(name="x"), RunSpec(runtime="bash")))
        other = await store.update_status(status.bound(run, "q", "other-uid", 1.0))
        agent.offer(other)
        await trio.testing.wait_all_tasks_blocked()
        assert client.requests == []
        assert (await store.get_run("default", "x")).status.phase is Phase.SCHEDULED

    with_agent(tmp_path, client, body)


def test_restart_recovery_adopts_known_executions_and_retries_lost_ones(tmp_path: Path) -> None:
    async def main() -> None:
        store = MemoryStore()
        await store.put_pod(POD)
        policy = {"retry_policy": RetryPolicy(max_attempts=2)}
        running = []
        for name in ("known", "lost"):
            run = await bound_run(store, name, **policy)
            running.append(await store.update_status(status.claimed(run, 2.0)))
        rv = (await store.list_runs()).resource_version
        known_id = f"{running[0].metadata.uid}-1"
        client = ScriptedClient()
        client.finish[known_id] = trio.Event()
        client.listed = [ExecutionStatus(known_id, ExecutionState.RUNNING)]
        config = AgentConfig(work_root=tmp_path / "work", artifact_root=tmp_path / "artifacts")
        agent = Agent(store, POD, client, LogStore(tmp_path / "logs"), config)  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            await nursery.start(agent.run)
            with trio.fail_after(10):
                lost = await final_or_pending(store, running[1].key, rv)
                assert (lost.status.phase, lost.status.attempt) == (Phase.PENDING, 2)
                assert "ExecutionLost" in lost.status.message
                assert client.requests == []  # nothing was executed again by this agent
                client.finish[known_id].set()
                adopted = await final_version(store, running[0].key, rv)
                assert adopted.status.phase is Phase.SUCCEEDED
            nursery.cancel_scope.cancel()

    trio.run(main)


async def final_or_pending(store: MemoryStore, key: tuple[str, str], rv: str) -> Run:
    async with store.watch_runs(rv) as events:
        async for event in events:
            run = event.object
            if run is not None and run.key == key and run.status.phase is Phase.PENDING:
                return run
    raise AssertionError("watch ended")
