"""`Client` (sync) against a live embedded engine: real pools, real Runs, the socket too."""

from __future__ import annotations

import pytest
import trio

from kruntimes.client import AsyncClient, Client, run_spec
from kruntimes.model import Phase

SLOW = ["bash", "-c", "echo started; sleep 30"]


def test_bash_and_python_runs_succeed_with_logs_and_outputs(engine: Client) -> None:
    run = engine.run(run_spec("bash", ["bash", "-c", "echo out; echo err >&2"]), timeout=20)
    assert run.status.phase is Phase.SUCCEEDED
    entries = list(engine.logs(run.metadata.name))
    assert {(e.stream, e.data) for e in entries} == {("stdout", "out\n"), ("stderr", "err\n")}
    function = (
        "import os\n"
        "def double(payload):\n"
        "    with open(os.environ['KRUNTIME_OUTPUTS'], 'a') as f:\n"
        "        f.write(f\"doubled={payload['n'] * 2}\\n\")\n"
    )
    run = engine.run(
        run_spec("python", source=function, handler="fn:double", input={"n": 21}), timeout=20
    )
    assert run.status.phase is Phase.SUCCEEDED, run.status.message
    assert run.status.outputs == {"doubled": "42"}


def test_failures_are_retried_by_policy_and_end_failed(engine: Client) -> None:
    spec = run_spec("bash", ["false"], retry_attempts=2, retry_backoff="10ms")
    run = engine.run(spec, timeout=20)
    assert run.status.phase is Phase.FAILED
    assert run.status.attempt == 2


def test_follow_streams_until_the_end_and_cancel_stops_a_run(engine: Client) -> None:
    run = engine.submit(run_spec("bash", SLOW))
    name = run.metadata.name
    for entry in engine.logs(name, follow=True):
        assert entry.data == "started\n"
        assert engine.cancel(name).spec.cancel_requested
    final = engine.wait(name, timeout=20)
    assert final.status.phase is Phase.CANCELLED
    assert engine.cancel(name).status.phase is Phase.CANCELLED  # idempotent


def test_a_run_for_an_unknown_runtime_waits_until_cancelled(engine: Client) -> None:
    name = engine.submit(run_spec("no-such-pool", ["true"])).metadata.name
    with pytest.raises(TimeoutError):
        engine.wait(name, timeout=0.2)
    assert engine.get(name).status.phase is Phase.PENDING
    final = engine.wait(engine.cancel(name).metadata.name, timeout=20)
    assert final.status.phase is Phase.CANCELLED
    assert "before it started" in final.status.message


def test_a_batch_through_the_socket_with_the_sync_and_async_clients(engine: Client) -> None:
    assert engine.engine is not None
    state = engine.engine.config.state_dir
    with Client.connect(state) as client:
        assert [rt.metadata.name for rt in client.runtimes()] == ["bash", "python"]
        assert len(client.wait_runtime_ready("python", timeout=20)) == 2
        runs = client.submit_many([run_spec("python", source=f"print({i})") for i in range(40)])
        done = client.wait_all([r.metadata.name for r in runs], timeout=30)
        assert {r.status.phase for r in done} == {Phase.SUCCEEDED}
        assert [e.data for e in client.logs(runs[7].metadata.name)] == ["7\n"]

    async def main() -> None:
        async with AsyncClient.connect(state) as client:
            run = await client.run(run_spec("bash", ["true"]), timeout=20)
            assert run.status.phase is Phase.SUCCEEDED
            assert [p.runtime for p in await client.pods("bash")] == ["bash", "bash"]

    trio.run(main)


def test_from_store_shares_a_store_with_the_loop_that_owns_it(engine: Client) -> None:
    assert engine.engine is not None
    assert engine.engine.store is not None
    shared = Client.from_store(engine.engine.store, trio_token=engine.trio_token)
    run = shared.run(run_spec("bash", ["true"]), timeout=20)
    assert run.status.phase is Phase.SUCCEEDED
    shared.close()
    assert engine.get(run.metadata.name).status.phase is Phase.SUCCEEDED
