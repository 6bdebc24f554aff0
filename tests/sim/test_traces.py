"""Trace replay: the csv and Azure Functions layouts, ordering, streaming and error messages."""

from __future__ import annotations

import gzip
import math
import random
import tracemalloc
from collections import Counter, deque
from pathlib import Path

import pytest

from kruntimes.sim.arrivals import Arrival
from kruntimes.sim.distributions import Constant
from kruntimes.sim.traces import TraceWorkload, parse_trace

DATA = Path(__file__).parent / "data"


def replay(spec: dict[str, object], *, until: float = math.inf, seed: int = 1) -> list[Arrival]:
    trace = parse_trace({"trace": spec}, what="workloads[1]", base_dir=DATA)
    return list(trace.stream(random.Random(seed), until=until))


def error(spec: dict[str, object], *, base_dir: Path = DATA) -> str:
    """The message of the ValueError that parsing or replaying the trace raises."""
    try:
        trace = parse_trace({"trace": spec}, what="workloads[1]", base_dir=base_dir)
        list(trace.stream(random.Random(1), until=math.inf))
    except ValueError as err:
        return str(err)
    raise AssertionError("no ValueError")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- csv ------------------------------------------------------------------------------------


def test_csv_columns_become_arrival_fields() -> None:
    got = replay({"path": "calls.csv", "runtime": "default", "duration": "1s"})
    assert got == [
        Arrival(0.0, 0.25, "python", {"runs": 1}, None, 0, "resize"),
        Arrival(0.5, 1.0, "python", {"runs": 1, "gpu": 2}, "batch", 5, "resize"),
        Arrival(0.5, 0.25, "node", None, None, 0, "thumb"),
        Arrival(1.75, 1.5, "python", {"runs": 2}, None, -1, "resize"),
        Arrival(3.0, 2.0, "default", None, None, 0, ""),
    ]


def test_csv_trace_level_defaults_and_transform() -> None:
    got = replay(
        {
            "path": "calls.csv",
            "runtime": "default",
            "duration": "1s",
            "queue": "q",
            "priority": 3,
            "requests": {"runs": 4},
            "start": "0.5s",
            "speedup": 2,
        }
    )
    assert [(a.at, a.queue, a.priority, a.requests) for a in got] == [
        (0.0, "batch", 5, {"runs": 1, "gpu": 2}),
        (0.0, "q", 3, {"runs": 4}),
        (0.625, "q", -1, {"runs": 2}),
        (1.25, "q", 3, {"runs": 4}),
    ]


def test_csv_until_and_limit() -> None:
    spec = {"path": "calls.csv", "runtime": "default", "duration": "1s"}
    assert [a.at for a in replay(spec, until=1.75)] == [0.0, 0.5, 0.5]
    assert len(replay({**spec, "limit": 2})) == 2
    assert replay({**spec, "limit": 0}) == []


def test_iso_timestamps_are_relative_to_the_first_row_and_reordered_in_the_window() -> None:
    got = replay({"path": "calls_iso.csv", "runtime": "py", "reorderWindow": "1s"})
    assert [(a.at, a.function, a.duration) for a in got] == [
        (0.0, "f1", 0.1),
        (1.5, "f1", 0.3),
        (2.0, "f2", 0.2),
        (5.0, "f3", 0.4),
    ]


def test_out_of_order_row_names_file_line_and_column() -> None:
    message = error({"path": "calls_iso.csv", "runtime": "py"})
    assert "calls_iso.csv, line 4, column 'timestamp'" in message
    assert "'2024-03-01T12:00:01.500Z' is 0.5 s earlier than a row already replayed" in message
    assert "reorderWindow (0 s)" in message


def test_late_rows_can_be_dropped() -> None:
    got = replay({"path": "calls_iso.csv", "runtime": "py", "late": "drop"})
    assert [a.function for a in got] == ["f1", "f2", "f3"]


def test_missing_duration_comes_from_the_fallback(tmp_path: Path) -> None:
    write(tmp_path, "t.csv", "time,runtime\n1,a\n2,b\n")
    trace = parse_trace(
        {"trace": {"path": "t.csv", "duration": {"uniform": {"low": 1, "high": 2}}}},
        what="w",
        base_dir=tmp_path,
    )
    one = list(trace.stream(random.Random(5), until=10))
    assert one == list(trace.stream(random.Random(5), until=10))
    assert all(1 <= a.duration <= 2 for a in one)


def test_gzip_trace(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        f.write("at,duration\n0.5,1\n1.5,2\n")
    trace = parse_trace(
        {"trace": {"path": "t.csv.gz", "runtime": "r"}}, what="w", base_dir=tmp_path
    )
    assert [a.at for a in trace.stream(random.Random(1), until=10)] == [0.5, 1.5]


@pytest.mark.parametrize(
    ("text", "spec", "expected"),
    [
        (
            "at,duration\n0,1\n1,abc\n",
            {},
            "t.csv, line 3, column 'duration': expected seconds or a duration like 250ms, "
            "got 'abc'",
        ),
        ("at,duration\n0,1\nsoon,1\n", {}, "t.csv, line 3, column 'at': expected seconds"),
        ("at,duration\n0,-1\n", {}, "t.csv, line 2, column 'duration': expected a finite"),
        (
            "at,duration,priority\n0,1,high\n",
            {},
            "t.csv, line 2, column 'priority': expected an integer, got 'high'",
        ),
        (
            "at,duration,requests.cpu\n0,1,500m\n",
            {},
            "t.csv, line 2, column 'requests.cpu': must be a whole number",
        ),
        (
            "when,duration\n0,1\n",
            {},
            "t.csv, line 1: no time column: expected one of at, time, timestamp",
        ),
        ("at\n0\n", {}, "t.csv, line 1: no 'duration' column: add one or set trace.duration"),
        ("", {}, "t.csv, line 1: the file is empty"),
        ("at,duration\n0,1\n", {"runtime": None}, "no 'runtime' column"),
        ("at,duration\n0,1\n", {"timeColumn": "t"}, "t.csv, line 1: missing column 't'"),
        ("at,runtime,duration\n0,,1\n", {"runtime": None}, "line 2, column 'runtime': empty"),
    ],
)
def test_csv_errors_name_file_line_and_column(
    tmp_path: Path, text: str, spec: dict[str, object], expected: str
) -> None:
    write(tmp_path, "t.csv", text)
    spec = {"path": "t.csv", "runtime": "r", **spec}
    spec = {k: v for k, v in spec.items() if v is not None}
    message = error(spec, base_dir=tmp_path)
    assert expected in message
    assert message.startswith("workloads[1].trace: ")
    assert str(tmp_path / "t.csv") in message


# -- Azure Functions 2021 -------------------------------------------------------------------

AZURE_2021 = {"path": "azure2021.csv", "format": "azure-functions-2021", "runtime": "fn"}


def test_azure_2021_arrives_at_end_minus_duration_in_order() -> None:
    got = replay(AZURE_2021)
    assert [(a.at, a.duration) for a in got] == [
        (5.0, 70.0),
        (7.0, 5.0),
        (10.0, 0.5),
        (10.5, 2.9),
        (11.0, 0.25),
        (12.0, 0.1),
        (14.0, 0.0),
        (75.0, 1.0),
    ]
    assert {a.runtime for a in got} == {"fn"}
    assert got[0].function == "b7e0/c4d1"


def test_azure_2021_runtime_by_app() -> None:
    got = replay({**AZURE_2021, "runtimeBy": "app"})
    assert Counter(a.runtime for a in got) == {"fn-a1f3": 5, "fn-b7e0": 3}


def test_azure_2021_row_beyond_the_window_is_an_error() -> None:
    message = error({**AZURE_2021, "reorderWindow": "3s"})
    assert "azure2021.csv, line 8, column 'end_timestamp'" in message
    assert "the invocation starting at 5 (end_timestamp 75.000 - duration)" in message
    assert "raise reorderWindow, or set late: drop" in message


def test_azure_2021_missing_column(tmp_path: Path) -> None:
    write(tmp_path, "t.txt", "app,func,end\na,f,1\n")
    message = error({**AZURE_2021, "path": "t.txt"}, base_dir=tmp_path)
    assert "t.txt, line 1: missing columns 'end_timestamp', 'duration'" in message


# -- Azure Functions 2019 -------------------------------------------------------------------

AZURE_2019 = {
    "path": "azure2019_invocations.csv",
    "durations": "azure2019_durations.csv",
    "format": "azure-functions-2019",
    "runtime": "fn",
    "duration": "10ms",
}


def file_counts() -> dict[tuple[str, int], int]:
    """(function hash, minute) -> count, from the fixture."""
    lines = (DATA / "azure2019_invocations.csv").read_text().splitlines()
    counts = {}
    for line in lines[1:]:
        cells = line.split(",")
        for minute, cell in enumerate(cells[4:]):
            if int(cell):
                counts[cells[2], minute] = int(cell)
    return counts


def test_azure_2019_replays_each_minute_count() -> None:
    got = replay(AZURE_2019)
    assert [a.at for a in got] == sorted(a.at for a in got)
    replayed = Counter((a.function.split("/")[1], int(a.at // 60)) for a in got)
    assert replayed == file_counts()
    assert len(got) == sum(file_counts().values())


def test_azure_2019_durations_come_from_each_functions_percentiles() -> None:
    got = replay({**AZURE_2019, "runtimeBy": "trigger"})
    by_runtime: dict[str, list[float]] = {}
    for a in got:
        by_runtime.setdefault(a.runtime, []).append(a.duration)
    assert set(by_runtime) == {"fn-http", "fn-timer", "fn-queue"}
    assert set(by_runtime["fn-timer"]) == {1.0}  # every percentile is 1000 ms
    assert set(by_runtime["fn-queue"]) == {0.01}  # no durations row: the fallback
    http = by_runtime["fn-http"]
    assert all(0.002 <= d <= 3.1 for d in http)
    assert sorted(http)[len(http) // 2] == pytest.approx(0.1, rel=0.25)


def test_azure_2019_until_start_and_speedup() -> None:
    got = replay({**AZURE_2019, "start": "2m", "speedup": 60}, until=3.0)
    counts = file_counts()
    expected = sum(c for (_, minute), c in counts.items() if 2 <= minute < 5)
    assert len(got) == expected
    assert all(0 <= a.at < 3.0 for a in got)
    assert max(a.at for a in got) > 2.0


def test_azure_2019_is_deterministic() -> None:
    assert replay(AZURE_2019, seed=3) == replay(AZURE_2019, seed=3)
    assert replay(AZURE_2019, seed=3) != replay(AZURE_2019, seed=4)


def test_azure_2019_function_without_durations_needs_a_fallback() -> None:
    message = error({k: v for k, v in AZURE_2019.items() if k != "duration"})
    assert "azure2019_invocations.csv, line 4, column 'HashFunction'" in message
    assert "has no row in" in message
    assert "set trace.duration to a fallback distribution" in message


def test_azure_2019_bad_count(tmp_path: Path) -> None:
    header = "HashOwner,HashApp,HashFunction,Trigger," + ",".join(map(str, range(1, 6)))
    write(tmp_path, "inv.csv", f"{header}\no,a,f,http,0,1,x,0,0\n")
    spec = {**AZURE_2019, "path": "inv.csv", "durations": str(DATA / AZURE_2019["durations"])}
    message = error(spec, base_dir=tmp_path)
    assert "inv.csv, line 2, column '3': expected a count >= 0, got 'x'" in message


def test_azure_2019_bad_percentile(tmp_path: Path) -> None:
    text = (DATA / "azure2019_durations.csv").read_text().replace(",900,", ",-900,")
    write(tmp_path, "dur.csv", text)
    spec = {**AZURE_2019, "path": str(DATA / AZURE_2019["path"]), "durations": "dur.csv"}
    message = error(spec, base_dir=tmp_path)
    assert "dur.csv, line 2, column 'percentile_Average_99': expected milliseconds >= 0" in message


def test_azure_2019_minute_columns_are_checked(tmp_path: Path) -> None:
    write(tmp_path, "inv.csv", "HashOwner,HashApp,HashFunction,Trigger,1,2,4\n")
    spec = {k: v for k, v in AZURE_2019.items() if k != "durations"}
    message = error({**spec, "path": "inv.csv"}, base_dir=tmp_path)
    assert "inv.csv, line 1, column '4': expected minute column '3' after '2'" in message


# -- the spec -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"path": "nope.csv"},
            f"workloads[1].trace.path: no such file: {DATA / 'nope.csv'}",
        ),
        (
            {"path": "calls.csv", "format": "azure"},
            "workloads[1].trace.format: expected one of csv, azure-functions-2019, "
            "azure-functions-2021, got 'azure'",
        ),
        (
            {"path": "calls.csv", "speed": 2},
            "workloads[1].trace: unknown key 'speed' (did you mean 'speedup'?); expected any of",
        ),
        ({"path": "calls.csv", "speedup": 0}, "workloads[1].trace.speedup: expected a number > 0"),
        (
            {"path": "calls.csv", "runtimeBy": "app"},
            "workloads[1].trace.runtimeBy: only for the Azure formats",
        ),
        (
            {**AZURE_2021, "runtimeBy": "trigger"},
            "workloads[1].trace.runtimeBy: expected one of app, function, got 'trigger'",
        ),
        (
            {"path": "azure2021.csv", "format": "azure-functions-2021"},
            "workloads[1].trace: missing 'runtime'",
        ),
        (
            {**AZURE_2021, "durations": "azure2019_durations.csv"},
            "workloads[1].trace.durations: only for format azure-functions-2019",
        ),
        (
            {**AZURE_2019, "durations": None, "duration": None},
            "azure-functions-2019 needs trace.durations",
        ),
        ({"path": "calls.csv", "late": "skip"}, "workloads[1].trace.late: expected one of"),
    ],
)
def test_spec_errors(spec: dict[str, object], expected: str) -> None:
    spec = {k: v for k, v in spec.items() if v is not None}
    assert expected in error(spec)


def test_trace_workload_can_be_built_directly() -> None:
    trace = TraceWorkload(DATA / "calls.csv", runtime="r", duration=Constant(1.0))
    trace.check()
    assert len(list(trace.stream(random.Random(1), until=math.inf))) == 5


# -- streaming ------------------------------------------------------------------------------


def peak_replay_memory(trace: TraceWorkload) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()  # if something else traces already
    base = tracemalloc.get_traced_memory()[0]
    try:
        deque(trace.stream(random.Random(1), until=math.inf), maxlen=0)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_csv_replay_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    def trace(rows: int) -> TraceWorkload:
        path = tmp_path / f"{rows}.csv"
        with path.open("w") as f:
            f.write("at,runtime,duration,function\n")
            # Rows slightly out of order: every tenth is 0.5 s late, within the window.
            f.writelines(
                f"{i * 0.01 - (0.5 if i % 10 == 9 else 0):.2f},r,0.1,fn\n" for i in range(rows)
            )
        return TraceWorkload(path, reorder_window=1.0)

    small_trace, large_trace = trace(5_000), trace(50_000)
    # the least of three: tracemalloc counts every allocation of the process (other tests'
    # threads too)
    small = min(peak_replay_memory(small_trace) for _ in range(3))
    large = min(peak_replay_memory(large_trace) for _ in range(3))
    assert large < small * 1.5 + 16_384
