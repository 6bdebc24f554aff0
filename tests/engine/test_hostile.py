"""Hostile Runs get a clear reason each, and the engine keeps serving everyone else."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from engine_fixtures import pools, running_engine

from kruntimes.agent.logs import LogStore, decode_data
from kruntimes.codec import ValidationError, run_from_dict
from kruntimes.model import ObjectMeta, Phase, Run, RunMode, RunSource, RunSpec, TaskMode
from kruntimes.store import Invalid


def bash(name: str, script: str) -> Run:
    return Run(ObjectMeta(name=name), RunSpec(runtime="bash", source=RunSource(inline=script)))


HOSTILE = {
    "binary-output": (bash("binary-output", r"printf '\xff\xfe\x00ok\n'"), Phase.SUCCEEDED, ""),
    "outputs-too-large": (
        bash(
            "outputs-too-large",
            'head -c 70000 /dev/zero | tr "\\0" a | sed "s/^/A=/" > "$KRUNTIME_OUTPUTS"',
        ),
        Phase.FAILED,
        "OutputsTooLarge",
    ),
    "outputs-invalid": (
        bash("outputs-invalid", 'echo "no equals sign" > "$KRUNTIME_OUTPUTS"'),
        Phase.FAILED,
        "OutputsInvalid",
    ),
    "artifact-symlink": (
        bash("artifact-symlink", 'ln -s /etc/passwd "$KRUNTIME_ARTIFACTS_DIR/passwd"'),
        Phase.FAILED,
        "ArtifactInvalid",
    ),
    "artifact-bad-name": (
        bash("artifact-bad-name", 'touch "$KRUNTIME_ARTIFACTS_DIR/bad name;rm -rf"'),
        Phase.FAILED,
        "ArtifactInvalid",
    ),
    "python-crash": (
        Run(
            ObjectMeta(name="python-crash"),
            RunSpec(runtime="python", source=RunSource(inline="import os; os._exit(7)")),
        ),
        Phase.FAILED,
        "worker exited with code 7",
    ),
    "missing-command": (
        Run(
            ObjectMeta(name="missing-command"),
            RunSpec(runtime="bash", mode=RunMode(task=TaskMode(args=("no-such-command-xyz",)))),
        ),
        Phase.FAILED,
        "RuntimeError",
    ),
}


def test_hostile_runs_fail_alone_with_a_reason(tmp_path: Path) -> None:
    trio.run(_hostile, tmp_path)


async def _hostile(tmp_path: Path) -> None:
    async with running_engine(tmp_path, pools(1, 4), persist=False) as engine:
        store = engine.store
        assert store is not None
        listing = await store.list_runs()
        for run, _, _ in HOSTILE.values():
            await store.create(run)
        await store.create(Run(ObjectMeta(name="nobody-serves-this"), RunSpec(runtime="cobol")))
        final: dict[str, Run] = {}
        with trio.fail_after(60):
            async with store.watch_runs(listing.resource_version) as events:
                async for event in events:
                    run = event.object
                    if run is not None and run.status.phase.is_terminal:
                        final[run.metadata.name] = run
                        if set(final) >= set(HOSTILE):
                            break
            for name, (_, phase, reason) in HOSTILE.items():
                assert final[name].status.phase is phase, (name, final[name].status.message)
                assert reason in final[name].status.message, (name, final[name].status.message)
            waiting = await store.get_run("default", "nobody-serves-this")
            assert waiting.status.phase is Phase.PENDING
            assert engine.scheduler_loop is not None
            why = engine.scheduler_loop.scheduler.why_waiting(waiting.key)
            assert why is not None
            assert why.code.value == "NoPodForRuntime"
            # ... and the engine still serves ordinary Runs.
            ok = await store.create(bash("after-all-that", "echo fine"))
            listing = await store.list_runs()
            async with store.watch_runs(listing.resource_version) as events:
                async for event in events:
                    run = event.object
                    if run is not None and run.key == ok.key and run.status.phase.is_terminal:
                        assert run.status.phase is Phase.SUCCEEDED
                        break
    logs = list(LogStore(tmp_path / "logs").read("default", "binary-output"))
    assert b"".join(decode_data(e) for e in logs) == b"\xff\xfe\x00ok\n"


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"spec": {"runtime": "x" * 64, "mode": {"task": {}}}}, "spec.runtime"),
        (
            {"spec": {"runtime": "bash", "mode": {"task": {}, "function": {"handler": "m:f"}}}},
            "spec.mode",
        ),
        (
            {"spec": {"runtime": "bash", "mode": {"task": {"args": ["a"] * 300}}}},
            "spec.mode.task.args",
        ),
        (
            {
                "spec": {
                    "runtime": "bash",
                    "source": {"inline": "x" * (256 * 1024 + 1)},
                    "mode": {"task": {}},
                }
            },
            "spec.source.inline",
        ),
        (
            {"spec": {"runtime": "bash", "mode": {"task": {"entrypoint": "../../etc/passwd"}}}},
            "spec.mode.task.entrypoint",
        ),
    ],
)
def test_hostile_manifests_are_refused_at_the_boundary(
    document: dict[str, object], path: str, tmp_path: Path
) -> None:
    manifest = {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "h"},
        **document,
    }
    with pytest.raises(ValidationError) as err:
        run_from_dict(manifest)
    assert path in str(err.value)

    async def through_the_store() -> None:
        from kruntimes.store import MemoryStore

        store = MemoryStore()
        bad = Run(ObjectMeta(name="h"), RunSpec(runtime="x" * 64))
        with pytest.raises(Invalid, match=r"spec\.runtime"):
            await store.create(bad)

    trio.run(through_the_store)
