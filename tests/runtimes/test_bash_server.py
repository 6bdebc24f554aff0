"""The built-in bash server, driven through the native client like the agent drives it."""

from __future__ import annotations

import os

import pytest
import trio
from runtime_helpers import ServerProcess, run, server_process, wait_for_exit

from kruntimes.runtimes.api import ExecuteRequest, ExecutionState, LogChunk, RuntimeError_


def execute_and_wait(
    server: ServerProcess, request: ExecuteRequest, logs: list[LogChunk] | None = None
):
    async def go():
        async with server.client(logs) as client:
            await client.execute(request)
            status = await client.wait(request.id)
            await client.forget(request.id)
            return status

    return run(go)


def test_true_succeeds_and_false_fails_with_its_code(bash_server: ServerProcess) -> None:
    ok = execute_and_wait(bash_server, ExecuteRequest(id="true-1", args=["true"]))
    assert (ok.state, ok.exit_code, ok.error_message) == (ExecutionState.SUCCEEDED, 0, "")
    bad = execute_and_wait(bash_server, ExecuteRequest(id="exit-1", source="exit 3"))
    assert (bad.state, bad.exit_code) == (ExecutionState.FAILED, 3)
    assert bad.error_message == "exited with code 3"


def test_args_are_positional_parameters_never_code(bash_server: ServerProcess) -> None:
    workdir = bash_server.workdir()
    hostile = "$(touch pwned); `touch pwned2`"
    inline = execute_and_wait(
        bash_server,
        ExecuteRequest(
            id="argv-1",
            source='printf "%s|" "$0" "$@"',
            args=[hostile, "two words"],
            working_dir=str(workdir),
        ),
    )
    assert inline.stdout == f"kruntimes|{hostile}|two words|"
    direct = execute_and_wait(
        bash_server,
        ExecuteRequest(id="argv-2", args=["printf", "%s", hostile], working_dir=str(workdir)),
    )
    assert direct.stdout == hostile
    assert sorted(os.listdir(workdir)) == []


def test_entrypoints_run_from_the_working_directory(bash_server: ServerProcess) -> None:
    workdir = bash_server.workdir()
    (workdir / "step.sh").write_text('echo "sh:$1:$(pwd)"\n')
    tool = workdir / "tool"
    tool.write_text('#!/bin/sh\necho "direct:$1"\n')
    tool.chmod(0o755)
    script = execute_and_wait(
        bash_server,
        ExecuteRequest(id="ep-1", entrypoint="step.sh", args=["a"], working_dir=str(workdir)),
    )
    assert script.stdout == f"sh:a:{workdir}\n"
    direct = execute_and_wait(
        bash_server,
        ExecuteRequest(id="ep-2", entrypoint="tool", args=["b"], working_dir=str(workdir)),
    )
    assert direct.stdout == "direct:b\n"


def test_request_env_is_added_to_the_server_env(bash_server: ServerProcess) -> None:
    status = execute_and_wait(
        bash_server,
        ExecuteRequest(
            id="env-1", source='echo "$GREETING:${PATH:+has-path}"', env={"GREETING": "hi"}
        ),
    )
    assert status.stdout == "hi:has-path\n"


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (ExecuteRequest(id="nf-1", args=["no-such-command-kr"]), 127, "command not found"),
        (ExecuteRequest(id="nf-2", entrypoint="missing.sh"), 127, "entrypoint not found"),
        (ExecuteRequest(id="nf-3", handler="mod:fn"), 2, "no handlers"),
        (ExecuteRequest(id="nf-4"), 2, "nothing to run"),
        (
            ExecuteRequest(id="nf-5", args=["true"], working_dir="/nonexistent/kr"),
            127,
            "working_dir",
        ),
    ],
)
def test_what_cannot_start_fails_clearly(
    bash_server: ServerProcess, request_: ExecuteRequest, code: int, message: str
) -> None:
    status = execute_and_wait(bash_server, request_)
    assert (status.state, status.exit_code) == (ExecutionState.FAILED, code)
    assert message in status.error_message


def test_killed_by_a_signal_reports_128_plus_signal(bash_server: ServerProcess) -> None:
    status = execute_and_wait(bash_server, ExecuteRequest(id="sig-1", source="kill -KILL $$"))
    assert (status.state, status.exit_code) == (ExecutionState.FAILED, 137)
    assert status.error_message == "killed by signal SIGKILL"


def test_tails_are_bounded_with_a_marker_and_logs_carry_everything(
    bash_server: ServerProcess,
) -> None:
    logs: list[LogChunk] = []
    total = 300_000
    status = execute_and_wait(
        bash_server,
        ExecuteRequest(
            id="big-1", source=f"head -c {total} /dev/zero | tr '\\0' x; echo -n end >&2"
        ),
        logs,
    )
    marker = f"\n[... {total - 4096} bytes truncated ...]\n"
    assert status.stdout == marker + "x" * 4096
    assert status.stderr == "end"
    stdout = b"".join(c.data for c in logs if c.stream == "stdout")
    assert stdout == b"x" * total
    assert all(c.id == "big-1" for c in logs)


def test_non_utf8_output_is_replaced_in_tails_and_kept_in_logs(bash_server: ServerProcess) -> None:
    logs: list[LogChunk] = []
    status = execute_and_wait(
        bash_server, ExecuteRequest(id="bytes-1", source="printf 'a\\377\\376b'"), logs
    )
    assert status.stdout == "a\ufffd\ufffdb"
    assert b"".join(c.data for c in logs) == b"a\xff\xfeb"


def test_cancel_kills_the_whole_process_group(bash_server: ServerProcess) -> None:
    workdir = bash_server.workdir()
    logs: list[LogChunk] = []
    ready = trio.Event()

    async def go():
        async def sink(chunk: LogChunk) -> None:
            logs.append(chunk)
            if b"ready" in chunk.data:
                ready.set()

        client = bash_server.client()
        client.log_sink = sink
        async with client:
            script = "sleep 100 & echo $! > bg.pid; echo ready; wait"
            request = ExecuteRequest(id="group-1", source=script, working_dir=str(workdir))
            await client.execute(request)
            await ready.wait()
            await client.cancel("group-1")
            await client.cancel("group-1")
            status = await client.wait("group-1")
            await client.cancel("group-1")
            return status

    status = run(go)
    assert (status.state, status.exit_code) == (ExecutionState.FAILED, 143)
    assert status.error_message == "Cancelled: cancel requested (killed by SIGTERM)"
    assert wait_for_exit(int((workdir / "bg.pid").read_text()))


def test_leftover_background_processes_are_killed_when_the_run_ends(
    bash_server: ServerProcess,
) -> None:
    workdir = bash_server.workdir()
    status = execute_and_wait(
        bash_server,
        ExecuteRequest(
            id="left-1", source="sleep 100 & echo $! > bg.pid", working_dir=str(workdir)
        ),
    )
    assert status.state is ExecutionState.SUCCEEDED
    assert wait_for_exit(int((workdir / "bg.pid").read_text()))


def test_timeout_terms_then_kills_after_the_grace(bash_server: ServerProcess) -> None:
    polite = execute_and_wait(
        bash_server, ExecuteRequest(id="to-1", source="sleep 30", timeout_seconds=1)
    )
    assert (polite.state, polite.exit_code) == (ExecutionState.FAILED, 143)
    assert polite.error_message == "Timeout: exceeded 1 s (killed by SIGTERM)"
    stubborn = execute_and_wait(
        bash_server,
        ExecuteRequest(id="to-2", source="trap '' TERM; sleep 30", timeout_seconds=1),
    )
    assert stubborn.exit_code == 137
    assert stubborn.error_message == "Timeout: exceeded 1 s (killed by SIGKILL)"


def test_duplicate_execute_is_a_no_op(bash_server: ServerProcess) -> None:
    workdir = bash_server.workdir()
    request = ExecuteRequest(id="dup-1", source="echo once >> runs.txt", working_dir=str(workdir))

    async def go():
        async with bash_server.client() as client:
            await client.execute(request)
            await client.execute(request)
            first = await client.wait("dup-1")
            await client.execute(request)
            again = await client.wait("dup-1")
            await client.forget("dup-1")
            return first, again

    first, again = run(go)
    assert first == again
    assert first.state is ExecutionState.SUCCEEDED
    assert (workdir / "runs.txt").read_text() == "once\n"


def test_forget_rules(bash_server: ServerProcess) -> None:
    async def go():
        async with bash_server.client() as client:
            await client.execute(ExecuteRequest(id="fg-1", args=["sleep", "30"]))
            with pytest.raises(RuntimeError_, match="cancel it first"):
                await client.forget("fg-1")
            await client.cancel("fg-1")
            await client.wait("fg-1")
            await client.forget("fg-1")
            await client.forget("fg-1")
            await client.forget("never-existed")
            await client.cancel("never-existed")
            with pytest.raises(RuntimeError_, match="unknown execution id"):
                await client.status("fg-1")

    run(go)


def test_executions_survive_an_agent_reconnect(bash_server: ServerProcess) -> None:
    async def first_agent():
        async with bash_server.client() as client:
            await client.execute(ExecuteRequest(id="rc-quick", args=["true"]))
            await client.execute(ExecuteRequest(id="rc-slow", args=["sleep", "30"]))
            await client.wait("rc-quick")

    async def second_agent():
        async with bash_server.client() as client:
            listed = {s.id: s.state for s in await client.list()}
            await client.cancel("rc-slow")
            slow = await client.wait("rc-slow")
            quick = await client.wait("rc-quick")
            for id in ("rc-quick", "rc-slow"):
                await client.forget(id)
            return listed, slow, quick

    run(first_agent)
    listed, slow, quick = run(second_agent)
    assert listed["rc-quick"] is ExecutionState.SUCCEEDED
    assert listed["rc-slow"] is ExecutionState.RUNNING
    assert slow.error_message.startswith("Cancelled:")
    assert quick.state is ExecutionState.SUCCEEDED


def test_health(bash_server: ServerProcess) -> None:
    async def go():
        async with bash_server.client() as client:
            return await client.health(), client.server_info

    (healthy, message), info = run(go)
    assert healthy
    assert message.startswith("bash:")
    assert info["server"] == "bash"
    assert info["capacity"] == 8


def test_executions_past_capacity_wait_as_pending() -> None:
    with server_process("bash", "--capacity", "1") as server:

        async def go():
            async with server.client() as client:
                await client.execute(ExecuteRequest(id="cap-1", args=["sleep", "30"]))
                await client.execute(ExecuteRequest(id="cap-2", args=["true"]))
                queued = await client.status("cap-2")
                await client.cancel("cap-1")
                return queued, await client.wait("cap-1"), await client.wait("cap-2")

        queued, first, second = run(go)
    assert queued.state is ExecutionState.PENDING
    assert first.state is ExecutionState.FAILED
    assert second.state is ExecutionState.SUCCEEDED


def test_cancel_of_a_pending_execution_fails_it_without_running_it() -> None:
    with server_process("bash", "--capacity", "1") as server:

        async def go():
            async with server.client() as client:
                await client.execute(ExecuteRequest(id="cp-1", args=["sleep", "30"]))
                await client.execute(ExecuteRequest(id="cp-2", args=["true"]))
                await client.cancel("cp-2")
                status = await client.wait("cp-2")
                await client.cancel("cp-1")
                return status

        status = run(go)
    assert (status.state, status.exit_code) == (ExecutionState.FAILED, -1)
    assert status.error_message == "Cancelled: cancel requested (before it started)"


def test_small_writes_are_coalesced_into_few_log_events(bash_server: ServerProcess) -> None:
    logs: list[LogChunk] = []
    status = execute_and_wait(
        bash_server,
        ExecuteRequest(id="many-1", source="for i in $(seq 2000); do echo $i; done"),
        logs,
    )
    assert status.state is ExecutionState.SUCCEEDED
    data = b"".join(c.data for c in logs)
    assert data == b"".join(b"%d\n" % i for i in range(1, 2001))
    assert len(logs) < 200  # one event per 20 ms or 64 KiB, not one per write


def test_exec_failures_of_an_executable_entrypoint(bash_server: ServerProcess) -> None:
    workdir = bash_server.workdir()
    for name, content in (("bad-interp", "#!/nonexistent/interp\n"), ("garbage", "\x7fELFjunk")):
        (workdir / name).write_text(content)
        (workdir / name).chmod(0o755)
    missing, garbage = (
        execute_and_wait(
            bash_server,
            ExecuteRequest(id=f"exec-{name}", entrypoint=name, working_dir=str(workdir)),
        )
        for name in ("bad-interp", "garbage")
    )
    assert (missing.exit_code, missing.state) == (127, ExecutionState.FAILED)
    assert missing.error_message.startswith("cannot start ")
    assert missing.error_message.endswith("bad-interp: No such file or directory")
    assert garbage.exit_code == 126
    assert garbage.error_message.endswith("garbage: Exec format error")


def test_sigterm_stops_the_server_with_its_runs_and_removes_the_socket() -> None:
    with server_process("bash") as server:
        workdir = server.workdir()
        started = trio.Event()

        async def go():
            async def sink(chunk: LogChunk) -> None:
                if b"up" in chunk.data:
                    started.set()

            client = server.client()
            client.log_sink = sink
            async with client:
                source = "echo $$ > main.pid; echo up; sleep 30"
                await client.execute(
                    ExecuteRequest(id="st-1", source=source, working_dir=str(workdir))
                )
                await started.wait()

        run(go)
        server.process.terminate()
        assert server.process.wait(timeout=10) == 0
        assert wait_for_exit(int((workdir / "main.pid").read_text()))
        assert not os.path.exists(server.socket)
