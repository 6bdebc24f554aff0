"""`krt get` on one Run: what a person asks, one field a line."""

from __future__ import annotations

import pytest
from attrs import evolve

from kruntimes.cli._output import describe_run
from kruntimes.model import ArraySpec, ArrayStatus
from kruntimes.testing.builders import make_run


def test_an_array_run_shows_its_progress_and_failed_indexes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = make_run("render")
    run = evolve(
        run,
        spec=evolve(run.spec, array=ArraySpec(completions=100, parallelism=10)),
        status=evolve(
            run.status,
            array=ArrayStatus(active=5, succeeded=12, failed=2, failed_indexes="3,40"),
        ),
    )
    describe_run(run)
    shown = capsys.readouterr().out
    assert "12 of 100 succeeded, 2 failed, 5 running" in shown
    assert "Failed indexes:" in shown
    assert "3,40" in shown


def test_a_plain_run_shows_no_array_lines(capsys: pytest.CaptureFixture[str]) -> None:
    describe_run(make_run("plain"))
    assert "Array" not in capsys.readouterr().out
