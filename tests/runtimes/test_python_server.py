"""The built-in python server: warm workers, fresh globals, and isolation of failures."""

from __future__ import annotations

import json

import pytest
import trio
from runtime_helpers import ServerProcess, run, server_process

from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, ExecutionStatus, LogChunk


def execute_all(
    server: ServerProcess, *requests: ExecuteRequest, logs: list[LogChunk] | None = None
) -> list[ExecutionStatus]:
    """Run requests one after another (so one worker may serve several) and forget them."""

    async def go():
        statuses = []
        async with server.client(logs) as client:
            for request in requests:
                await client.execute(request)
                statuses.append(await client.wait(request.id))
                await client.forget(request.id)
        return statuses

    return run(go)


def test_snippet_output_and_success(python_server: ServerProcess) -> None:
    (status,) = execute_all(python_server, ExecuteRequest(id="py-1", source="print('hi')"))
    assert (status.state, status.exit_code, status.stdout) == (ExecutionState.SUCCEEDED, 0, "hi\n")


def test_every_run_gets_fresh_globals() -> None:
    with server_process("python", "--capacity", "1") as server:
        first, second = execute_all(
            server,
            ExecuteRequest(id="g-1", source="leaked = 42"),
            ExecuteRequest(id="g-2", source="print('leaked' in globals(), __name__)"),
        )
    assert first.state is ExecutionState.SUCCEEDED
    assert second.stdout == "False __main__\n"


def test_preloaded_module_is_imported_once_even_across_worker_replacement(
    python_server: ServerProcess,
) -> None:
    handler = ExecuteRequest(id="pre-1", handler="kr_counted:handler", input='{"a": [1, 2]}')
    crash = ExecuteRequest(id="pre-crash", source="import os; os._exit(3)")
    again = ExecuteRequest(id="pre-2", handler="kr_counted:handler", input="null")
    results = execute_all(python_server, handler, crash, crash, again)
    assert json.loads(results[0].result or "") == {"echo": {"a": [1, 2]}, "imports": 1}
    assert json.loads(results[3].result or "") == {"echo": None, "imports": 1}


def test_exceptions_fail_the_run_with_the_last_line_and_a_traceback(
    python_server: ServerProcess,
) -> None:
    (status,) = execute_all(
        python_server, ExecuteRequest(id="exc-1", source="def f():\n    1/0\nf()\n")
    )
    assert (status.state, status.exit_code) == (ExecutionState.FAILED, 1)
    assert status.error_message == "ZeroDivisionError: division by zero"
    assert status.stderr.startswith("Traceback (most recent call last):\n")
    assert "python_worker" not in status.stderr
    assert 'File "<run>", line 3' in status.stderr
    assert "    1/0\n" in status.stderr


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (ExecuteRequest(id="ns-1", entrypoint="missing.py"), 127, "entrypoint not found"),
        (ExecuteRequest(id="ns-2", entrypoint="run.sh"), 2, "runs *.py entrypoints"),
        (ExecuteRequest(id="ns-3"), 2, "nothing to run"),
        (ExecuteRequest(id="ns-4", source="", working_dir="/nonexistent/kr"), 127, "working_dir"),
        (ExecuteRequest(id="ns-5", handler="nocolon"), 1, "module:function"),
    ],
)
def test_what_cannot_run_fails_clearly(
    python_server: ServerProcess, request_: ExecuteRequest, code: int, message: str
) -> None:
    (status,) = execute_all(python_server, request_)
    assert (status.state, status.exit_code) == (ExecutionState.FAILED, code)
    assert message in status.error_message


@pytest.mark.parametrize(
    ("source", "state", "code"),
    [
        ("raise SystemExit(4)", ExecutionState.FAILED, 4),
        ("import sys; sys.exit(0)", ExecutionState.SUCCEEDED, 0),
        ("import sys; sys.exit()", ExecutionState.SUCCEEDED, 0),
        ("import sys; sys.exit('bye')", ExecutionState.FAILED, 1),
    ],
)
def test_system_exit_sets_the_exit_code(
    python_server: ServerProcess, source: str, state: ExecutionState, code: int
) -> None:
    (status,) = execute_all(python_server, ExecuteRequest(id="exit", source=source))
    assert (status.state, status.exit_code) == (state, code)


def test_function_handlers_take_json_and_return_json(python_server: ServerProcess) -> None:
    source = "def double(x):\n    return {'double': x * 2}\n"
    ok, bad_result, bad_input, missing = execute_all(
        python_server,
        ExecuteRequest(id="fn-1", source=source, handler="double", input="21"),
        ExecuteRequest(id="fn-2", handler="kr_counted:unserialisable"),
        ExecuteRequest(id="fn-3", source=source, handler="double", input="{nope"),
        ExecuteRequest(id="fn-4", handler="kr_counted:nothing_here"),
    )
    assert (ok.state, ok.result) == (ExecutionState.SUCCEEDED, '{"double": 42}')
    assert bad_result.state is ExecutionState.FAILED
    assert bad_result.error_message.startswith("result is not JSON-serialisable")
    assert bad_input.error_message.startswith("input is not valid JSON")
    assert missing.error_message == "kr_counted has no 'nothing_here'"


def test_script_entrypoint_runs_as_main_with_argv(python_server: ServerProcess) -> None:
    workdir = python_server.workdir()
    (workdir / "job.py").write_text(
        "import os, sys\nprint(__name__, sys.argv, os.getcwd() == os.path.dirname(__file__))\n"
    )
    (status,) = execute_all(
        python_server,
        ExecuteRequest(id="s-1", entrypoint="job.py", args=["a", "$(x)"], working_dir=str(workdir)),
    )
    assert status.stdout == "__main__ ['job.py', 'a', '$(x)'] True\n"


def test_env_cwd_and_run_local_modules_do_not_leak(python_server: ServerProcess) -> None:
    workdir = python_server.workdir()
    (workdir / "kr_local_helper.py").write_text("VALUE = 'local'\n")
    use = ExecuteRequest(
        id="leak-1",
        source=(
            "import os, kr_local_helper\n"
            "os.environ['SET_BY_RUN'] = '1'\n"
            "print(os.environ['FROM_REQUEST'], os.getcwd(), kr_local_helper.VALUE)\n"
        ),
        env={"FROM_REQUEST": "yes"},
        working_dir=str(workdir),
    )
    check = ExecuteRequest(
        id="leak-2",
        source=(
            "import os, sys\n"
            "print('FROM_REQUEST' in os.environ, 'SET_BY_RUN' in os.environ,\n"
            f"      'kr_local_helper' in sys.modules, os.getcwd() == {str(workdir)!r})\n"
        ),
    )
    for worker_round in range(2):  # two workers: make sure both saw a Run of each kind
        first, second = execute_all(python_server, use, check)
        assert first.stdout == f"yes {workdir} local\n", worker_round
        assert second.stdout == "False False False False\n", worker_round


def test_non_utf8_output(python_server: ServerProcess) -> None:
    logs: list[LogChunk] = []
    (status,) = execute_all(
        python_server,
        ExecuteRequest(id="b-1", source="import sys; sys.stdout.buffer.write(b'a\\xffb')"),
        logs=logs,
    )
    assert status.stdout == "a\ufffdb"
    assert b"".join(c.data for c in logs) == b"a\xffb"


@pytest.mark.parametrize(
    ("source", "code", "message"),
    [
        ("import os; os._exit(7)", 7, "worker exited with code 7"),
        ("import os; os._exit(0)", 0, "worker exited (code 0) before the Run returned"),
        ("import ctypes; ctypes.string_at(0)", 139, "worker killed by signal SIGSEGV"),
    ],
)
def test_a_dying_worker_fails_only_its_run(
    python_server: ServerProcess, source: str, code: int, message: str
) -> None:
    crash, after = execute_all(
        python_server,
        ExecuteRequest(id="die-1", source=source),
        ExecuteRequest(id="die-2", source="print('still fine')"),
    )
    assert (crash.state, crash.exit_code, crash.error_message) == (
        ExecutionState.FAILED,
        code,
        message,
    )
    assert after.stdout == "still fine\n"


def test_a_hang_is_killed_at_its_timeout_while_other_runs_go_on(
    python_server: ServerProcess,
) -> None:
    async def go():
        async with python_server.client() as client:
            await client.execute(
                ExecuteRequest(id="hang-1", source="while True: pass", timeout_seconds=1)
            )
            others = []
            for i in range(5):
                await client.execute(ExecuteRequest(id=f"other-{i}", source=f"print({i})"))
                others.append(await client.wait(f"other-{i}"))
            hang = await client.wait("hang-1")
            await client.execute(ExecuteRequest(id="after-hang", source="print('ok')"))
            after = await client.wait("after-hang")
            health = await client.health()
            for id in ["hang-1", "after-hang", *(f"other-{i}" for i in range(5))]:
                await client.forget(id)
            return hang, others, after, health

    hang, others, after, health = run(go)
    assert [o.stdout for o in others] == [f"{i}\n" for i in range(5)]
    assert hang.state is ExecutionState.FAILED
    assert hang.error_message == "Timeout: exceeded 1 s (killed by SIGTERM)"
    assert after.stdout == "ok\n"
    assert health[0], health


def test_cancel_kills_the_worker_and_a_new_one_takes_over(python_server: ServerProcess) -> None:
    started = trio.Event()

    async def go():
        async def sink(chunk: LogChunk) -> None:
            if b"sleeping" in chunk.data:
                started.set()

        client = python_server.client()
        client.log_sink = sink
        async with client:
            source = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"
            await client.execute(ExecuteRequest(id="c-1", source=source))
            await started.wait()
            await client.cancel("c-1")
            await client.cancel("c-1")
            cancelled = await client.wait("c-1")
            await client.forget("c-1")
            statuses = []
            for i in range(3):
                await client.execute(ExecuteRequest(id=f"c-after-{i}", source="print('next')"))
                statuses.append(await client.wait(f"c-after-{i}"))
                await client.forget(f"c-after-{i}")
            return cancelled, statuses

    cancelled, statuses = run(go)
    assert cancelled.error_message == "Cancelled: cancel requested (killed by SIGTERM)"
    assert cancelled.exit_code == 143
    assert all(s.state is ExecutionState.SUCCEEDED for s in statuses)


def test_health_counts_workers(python_server: ServerProcess) -> None:
    async def go():
        async with python_server.client() as client:
            return await client.health()

    healthy, message = run(go)
    assert healthy
    assert "2/2 workers" in message


def test_a_bad_preload_stops_the_server_with_a_clear_error() -> None:
    server = server_process("python", "--preload", "no_such_module_kr")
    with pytest.raises(RuntimeError, match=r"did not become ready \(exit 2\)"), server:
        pass


def test_workers_start_in_their_own_session(python_server: ServerProcess) -> None:
    (status,) = execute_all(
        python_server,
        ExecuteRequest(id="sid-1", source="import os; print(os.getsid(0) == os.getpid())"),
    )
    assert status.stdout == "True\n"


def test_runs_wait_for_a_ready_worker_when_workers_die_at_start(tmp_path) -> None:
    (tmp_path / "kr_fork_bomb_guard.py").write_text(
        "import os\nos.register_at_fork(after_in_child=lambda: os._exit(5))\n"
    )
    env = {"PYTHONPATH": str(tmp_path)}
    with server_process("python", "--preload", "kr_fork_bomb_guard", env=env) as server:

        async def go():
            async with server.client() as client:
                await client.execute(ExecuteRequest(id="never-1", source="print('x')"))
                status = await client.status("never-1")
                await client.cancel("never-1")
                return status, await client.wait("never-1")

        pending, cancelled = run(go)
    assert pending.state is ExecutionState.PENDING
    assert cancelled.error_message == "Cancelled: cancel requested (before it started)"


def test_forget_on_finish_drops_the_record_once_the_agent_has_the_event(
    python_server: ServerProcess,
) -> None:
    async def go() -> tuple[ExecutionStatus, list[str]]:
        async with python_server.client(None) as client:
            request = ExecuteRequest(id="auto-1", source="print(1)", forget_on_finish=True)
            await client.execute(request)
            status = await client.wait(request.id)
            await client.forget(request.id)  # local bookkeeping only: no round trip needed
            kept = ExecuteRequest(id="kept-1", source="print(2)")
            await client.execute(kept)
            await client.wait(kept.id)
            known = [s.id for s in await client.list()]
            await client.forget(kept.id)
            return status, known

    status, known = run(go)
    assert status.state is ExecutionState.SUCCEEDED
    assert known == ["kept-1"]
