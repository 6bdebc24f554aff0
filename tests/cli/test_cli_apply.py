"""`krt apply -f`: multi-document manifests, batches, and one line per invalid field."""

from __future__ import annotations

from pathlib import Path

from krt_helpers import RUN, Krt

from kruntimes.client import Client
from kruntimes.model import Phase

RUNTIME = """\
apiVersion: kruntimes.io/v1alpha1
kind: Runtime
metadata:
  name: spare
  labels: {{kruntimes.io/kind: bash}}
spec:
  replicas: {replicas}
  capacity:
    resources: {{runs: "2"}}
"""


def test_runs_and_a_runtime_from_one_file_then_again(
    krt: Krt, engine: Client, tmp_path: Path
) -> None:
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(
        "---\n".join(
            [RUNTIME.format(replicas=1), RUN.format(name="apply-a"), RUN.format(name="apply-b")]
        )
    )
    first = krt("apply", "-f", str(manifest))
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "runtime/spare created",
        "run/apply-a created",
        "run/apply-b created",
    ]
    assert engine.wait("apply-b", timeout=20).status.phase is Phase.SUCCEEDED
    manifest.write_text(RUNTIME.format(replicas=0) + "---\n" + RUN.format(name="apply-a"))
    again = krt("apply", "-f", str(manifest))
    assert again.stdout.splitlines() == ["runtime/spare configured", "run/apply-a unchanged"]
    assert engine.get_runtime("spare").spec.replicas == 0


def test_invalid_documents_are_all_reported_and_nothing_is_applied(
    krt: Krt, engine: Client, tmp_path: Path
) -> None:
    both_modes = RUN.format(name="bad-mode").replace(
        "    task:", "    function: {handler: m:f}\n    task:"
    )
    documents = [
        RUN.format(name="not-applied"),
        "just a string\n",
        both_modes,
        RUN.format(name="bad-timeout") + "  timeout: soon\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
    ]
    manifest = tmp_path / "bad.yaml"
    manifest.write_text("---\n".join(documents))
    result = krt("apply", "-f", str(manifest))
    assert result.exit_code == 65
    assert result.stderr.splitlines() == [
        "error: document 2: must be a mapping: a Run, a Runtime or a RunQueue",
        "error: document 3: spec.mode: exactly one of task or function",
        "error: document 4: spec.timeout: invalid duration 'soon': use Go syntax like 30s, "
        "1m30s or 500ms",
        "error: document 5: kind: must be Run, Runtime or RunQueue, got 'Pod'",
    ]
    assert result.stdout == ""
    assert "not-applied" not in [r.metadata.name for r in engine.list()]


def test_yaml_syntax_errors_warnings_and_empty_input(krt: Krt) -> None:
    broken = krt("apply", "-f", "-", input=RUN.format(name="x") + "---\nspec: [unclosed\n")
    assert broken.exit_code == 65
    assert broken.stderr.startswith("error: document 2: invalid YAML at line 12, column 1: ")
    extra = RUN.format(name="with-extra").replace("spec:\n", "spec:\n  colour: blue\n")
    warned = krt("apply", "-f", "-", input=extra)
    assert warned.exit_code == 0
    assert warned.stderr.startswith("warning: document 1: spec.colour: unknown field")
    empty = krt("apply", "-f", "-", input="---\n")
    assert empty.exit_code == 65
    assert empty.stderr == "error: no objects to apply\n"
    missing = krt("apply", "-f", "no-such-file.yaml")
    assert missing.exit_code == 2


def test_a_batch_from_a_directory_is_summarised(krt: Krt, engine: Client, tmp_path: Path) -> None:
    (tmp_path / "runs.yaml").write_text(
        "---\n".join(RUN.format(name=f"batch-{i:02}") for i in range(30))
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    result = krt("apply", "-f", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "30 Runs created\n"
    done = engine.wait_all([f"batch-{i:02}" for i in range(30)], timeout=30)
    assert {r.status.phase for r in done} == {Phase.SUCCEEDED}


def test_changing_an_existing_run_is_refused_per_object(krt: Krt, tmp_path: Path) -> None:
    manifest = tmp_path / "run.yaml"
    manifest.write_text(RUN.format(name="immutable"))
    assert krt("apply", "-f", str(manifest)).exit_code == 0
    manifest.write_text(RUN.format(name="immutable").replace("[echo,", "[printf,"))
    result = krt("apply", "-f", str(manifest))
    assert result.exit_code == 65
    assert result.stderr.startswith("error: run/immutable: ")
    assert "spec.mode" in result.stderr
