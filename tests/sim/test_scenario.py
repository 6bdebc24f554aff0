"""kruntimes.sim.scenario: scenario files, their defaults and their error messages."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from kruntimes.core import SchedulerConfig
from kruntimes.model import RetryPolicy
from kruntimes.sim.arrivals import Workload
from kruntimes.sim.distributions import POD_STARTUP_DEFAULT, Constant, LogNormal, Uniform
from kruntimes.sim.scenario import (
    _FAILURE_KEYS,
    _POOL_KEYS,
    _TOP_KEYS,
    DEFAULT_SYSTEM,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from kruntimes.sim.setup import (
    DISPATCH_DEFAULT,
    REACTION_DEFAULT,
    FailureModel,
    PoolSpec,
    SimSetup,
)
from kruntimes.sim.traces import TraceWorkload

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "simulations"
DATA = Path(__file__).resolve().parent / "data"

BASE: dict[str, Any] = {
    "name": "tiny",
    "horizon": "10s",
    "pools": [{"runtime": "python", "replicas": 2, "capacity": {"runs": 2}}],
    "workloads": [
        {
            "runtime": "python",
            "arrivals": {"poisson": {"rate": "10/s"}},
            "duration": {"exponential": {"mean": "100ms"}},
        }
    ],
}


def parse(data: dict[str, Any], base_dir: Path = DATA) -> Scenario:
    return parse_scenario(data, base_dir=base_dir, source="s.yaml")


def error(data: object, base_dir: Path = DATA) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, base_dir=base_dir, source="s.yaml")  # type: ignore[arg-type]
    return str(info.value)


def with_(path: str, value: object) -> dict[str, Any]:
    """BASE with the value at a dotted path (list indexes as numbers) set, or removed."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    key: Any = int(last) if isinstance(node, list) else last
    if value is REMOVE:
        del node[key]
    elif isinstance(node, list) and key == len(node):
        node.append(value)
    else:
        node[key] = value
    return data


REMOVE = object()


# -- the examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.source == str(path)
    assert scenario.description
    assert next(scenario.arrivals(), None) is not None


def test_the_examples_are_the_four_documented() -> None:
    names = {p.stem for p in EXAMPLES.glob("*.yaml")}
    assert names == {"agent-tool-calls", "ci-burst", "batch-fan-out", "azure-functions"}


def test_agent_tool_calls_compares_two_policies_and_recommends() -> None:
    scenario = load_scenario(EXAMPLES / "agent-tool-calls.yaml")
    assert list(scenario.policies) == ["spread", "bin-pack"]
    assert scenario.policies["spread"].scheduler.ordering == "least-loaded"
    assert scenario.policies["bin-pack"].scheduler.ordering == "most-allocated"
    assert scenario.recommend is not None
    assert scenario.recommend.capacities == (4, 8, 16)
    assert (scenario.recommend.latency, scenario.recommend.target_p99) == ("end_to_end", 1.0)
    assert scenario.recommend.policy == "spread"  # the first policy by default


def test_batch_fan_out_reads_runqueue_manifests() -> None:
    scenario = load_scenario(EXAMPLES / "batch-fan-out.yaml")
    queues = {q.metadata.name: q.spec for q in scenario.setup.queues}
    assert queues["team-a"].quota == {"runs": 48}
    assert queues["team-a"].weight == 2.0
    assert queues["team-b"].cohort == "batch"
    assert scenario.setup.retry == RetryPolicy(max_attempts=3, backoff_seconds=2.0)
    assert scenario.setup.failures.pod_loss_per_hour == 1.0
    assert scenario.setup.failures.run_failure == 0.02
    assert scenario.policies["one-queue"].scheduler.admission is False


def test_azure_functions_replays_the_trace_relative_to_the_file() -> None:
    scenario = load_scenario(EXAMPLES / "azure-functions.yaml")
    (trace,) = scenario.workloads
    assert isinstance(trace, TraceWorkload)
    assert trace.path == EXAMPLES / "traces" / "invocations_per_function_md.anon.d01.csv"
    assert trace.speedup == 360.0


# -- defaults -------------------------------------------------------------------------------


def test_defaults() -> None:
    scenario = parse(BASE)
    assert scenario.seed == 0
    assert scenario.horizon == 10.0
    assert scenario.drain is None
    assert scenario.description == ""
    assert scenario.policies == {}
    assert scenario.recommend is None
    assert scenario.baseline is not None
    assert scenario.baseline.startup == POD_STARTUP_DEFAULT
    assert scenario.baseline.max_pods is None
    setup = scenario.setup
    assert setup.namespace == "default"
    assert setup.dispatch == DISPATCH_DEFAULT
    assert setup.reaction == REACTION_DEFAULT
    assert setup.cycle_interval == 0.0
    assert setup.autoscale_every == 1.0
    assert setup.retry == RetryPolicy()
    assert setup.failures == FailureModel()
    assert setup.scheduler == SchedulerConfig()
    (pool,) = setup.pools
    assert (pool.runtime, pool.replicas, dict(pool.capacity)) == ("python", 2, {"runs": 2})
    assert pool.max_replicas is None
    assert pool.startup == POD_STARTUP_DEFAULT
    assert list(scenario.systems()) == [DEFAULT_SYSTEM]
    assert isinstance(scenario.workloads[0], Workload)


def test_every_key_is_read() -> None:
    data = {
        **BASE,
        "description": "d",
        "seed": 9,
        "drain": "1m",
        "namespace": "ml",
        "pools": [
            {
                "runtime": "python",
                "replicas": 2,
                "capacity": {"runs": 4, "gpu": 1},
                "labels": {"tier": "fast"},
                "maxReplicas": 5,
                "targetUtilisation": 0.5,
                "scaleDownAfter": "2m",
                "startup": "3s",
            }
        ],
        "dispatch": "5ms",
        "reaction": {"uniform": {"low": "1ms", "high": "3ms"}},
        "cycleInterval": "10ms",
        "autoscaleEvery": "2s",
        "retry": {"maxAttempts": 4, "backoff": "3s", "retryableReasons": ["ExecutionLost"]},
        "failures": {
            "podLossPerHour": 0.5,
            "agentCrashPerHour": 0.25,
            "agentRestart": "20s",
            "runFailure": 0.1,
        },
        "scheduler": {
            "ordering": "most-allocated",
            "candidatesToScore": 4,
            "scoreWeights": {"most-allocated": 2},
            "heartbeatFreshSeconds": "20s",
            "staleAfterSeconds": 40,
            "terminatingGraceSeconds": "1m",
            "disabledPlugins": [],
            "admission": False,
            "priorityClasses": {"high": 100},
        },
        "baseline": {"startup": "4s", "maxPods": 10},
        "recommend": {
            "target": {"p99": "200ms"},
            "capacities": [2, 4, 2],
            "maxReplicas": 30,
            "horizon": "5s",
        },
    }
    scenario = parse(data)
    assert (scenario.description, scenario.seed, scenario.drain) == ("d", 9, 60.0)
    setup = scenario.setup
    (pool,) = setup.pools
    assert dict(pool.capacity) == {"runs": 4, "gpu": 1}
    assert dict(pool.labels) == {"tier": "fast"}
    assert (pool.max_replicas, pool.target_utilisation, pool.scale_down_after) == (5, 0.5, 120.0)
    assert pool.startup == Constant(3.0)
    assert setup.namespace == "ml"
    assert (setup.dispatch, setup.cycle_interval, setup.autoscale_every) == (
        Constant(0.005),
        0.01,
        2.0,
    )
    assert setup.reaction == Uniform(0.001, 0.003)
    assert setup.retry == RetryPolicy(4, 3.0, ("ExecutionLost",))
    assert setup.failures == FailureModel(0.5, 0.25, Constant(20.0), 0.1)
    assert setup.scheduler == SchedulerConfig(
        ordering="most-allocated",
        candidates_to_score=4,
        score_weights={"most-allocated": 2},
        heartbeat_fresh_seconds=20.0,
        stale_after_seconds=40.0,
        terminating_grace_seconds=60.0,
        disabled_plugins=(),
        admission=False,
        priority_classes={"high": 100},
    )
    assert scenario.baseline is not None
    assert (scenario.baseline.startup, scenario.baseline.max_pods) == (Constant(4.0), 10)
    rec = scenario.recommend
    assert rec is not None
    assert (rec.runtime, rec.target_p99, rec.latency) == ("python", 0.2, "end_to_end")
    assert (rec.capacities, rec.max_replicas, rec.horizon, rec.policy) == ((2, 4), 30, 5.0, None)


def test_every_scheduler_config_field_has_a_camel_case_key() -> None:
    message = error({**BASE, "scheduler": {"notAField": 1}})
    assert message.startswith("s.yaml: scheduler: unknown key 'notAField'; expected any of ")
    for field in attrs.fields(SchedulerConfig):
        head, *rest = field.name.split("_")
        assert head + "".join(p.capitalize() for p in rest) in message


def test_policies_override_the_top_level_scheduler_key_by_key() -> None:
    data = {
        **BASE,
        "scheduler": {"ordering": "most-allocated", "staleAfterSeconds": 99},
        "policies": {"spread": {"scheduler": {"ordering": "least-loaded"}}, "same": None},
    }
    scenario = parse(data)
    spread = scenario.policies["spread"].scheduler
    assert (spread.ordering, spread.stale_after_seconds) == ("least-loaded", 99.0)
    assert scenario.policies["same"].scheduler == scenario.setup.scheduler
    systems = scenario.systems()
    assert list(systems) == ["spread", "same"]
    assert systems["spread"].scheduler == spread


def test_baseline_false_skips_it_and_startup_defaults_to_the_first_pool() -> None:
    assert parse({**BASE, "baseline": False}).baseline is None
    pools = [{**BASE["pools"][0], "startup": {"lognormal": {"p50": "2s", "p99": "9s"}}}]
    baseline = parse({**BASE, "pools": pools}).baseline
    assert baseline is not None
    assert baseline.startup == LogNormal.from_quantiles(2.0, 9.0)


def test_queues_default_to_the_scenario_namespace_and_kind() -> None:
    data = {
        **BASE,
        "namespace": "ml",
        "queues": [{"metadata": {"name": "q"}, "spec": {"quota": {"runs": "4"}}}],
        "workloads": [{**BASE["workloads"][0], "queue": "q"}],
    }
    (queue,) = parse(data).setup.queues
    assert queue.key == ("ml", "q")
    assert queue.spec.quota == {"runs": 4}


def test_overrides() -> None:
    scenario = parse(BASE).with_overrides(seed=5, horizon=3.0)
    assert (scenario.seed, scenario.horizon) == (5, 3.0)
    with pytest.raises(ScenarioError, match="horizon must be a finite number > 0"):
        scenario.with_overrides(horizon=0.0)


def test_arrivals_are_fresh_and_the_same_each_time() -> None:
    scenario = parse(BASE)
    first = [a.at for a in scenario.arrivals()]
    assert first == [a.at for a in scenario.arrivals()]
    assert 50 < len(first) < 200
    assert all(t < 10.0 for t in first)
    assert [a.at for a in scenario.arrivals(until=2.0)] == [t for t in first if t < 2.0]


# -- plugins --------------------------------------------------------------------------------

PLUGIN = '''
from kruntimes.hookspecs import hookimpl


class NameOrder:
    """Offers the ordering "by-name"; counts its instances."""

    made = 0

    def __init__(self):
        type(self).made += 1

    @hookimpl
    def kruntimes_pod_orders(self):
        return {"by-name": lambda ps: 0}
'''


def test_plugins_are_imported_and_classes_instantiated_per_simulation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sim_test_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {
        **BASE,
        "policies": {
            "named": {
                "scheduler": {"ordering": "by-name"},
                "plugins": ["sim_test_plugin:NameOrder"],
            },
            "spread": {},
        },
    }
    scenario = parse(data)
    module = sys.modules["sim_test_plugin"]
    made = module.NameOrder.made
    assert scenario.policies["named"].plugins == (module.NameOrder,)
    first = scenario.systems()["named"].plugins
    second = scenario.systems()["named"].plugins
    assert first[0] is not second[0]
    assert module.NameOrder.made == made + 2
    assert scenario.systems()["spread"].plugins == ()


def test_an_ordering_a_policy_lacks_names_the_policy(tmp_path: Path) -> None:
    data = {**BASE, "policies": {"p": {"scheduler": {"ordering": "by-name"}}}}
    message = error(data)
    assert message.startswith("s.yaml: policies.p.scheduler.ordering: unknown ordering 'by-name'")
    assert "available: least-loaded, most-allocated" in message


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, "s.yaml: expected a mapping of name, description, seed, horizon, ...; got an "),
        (with_("name", REMOVE), "s.yaml: scenario: missing 'name'"),
        (with_("horizon", REMOVE), "s.yaml: scenario: missing 'horizon'"),
        (
            with_("pool", []),
            "s.yaml: scenario: unknown key 'pool' (did you mean 'pools'?); expected any of name,",
        ),
        (with_("horizon", "10 minutes"), "s.yaml: horizon: invalid duration '10 minutes'"),
        (with_("horizon", 0), "s.yaml: horizon: must be greater than 0, got 0"),
        (with_("seed", "x"), "s.yaml: seed: expected a whole number, got 'x'"),
        (with_("pools", REMOVE), "s.yaml: scenario: missing 'pools'"),
        (with_("pools", []), "s.yaml: pools: expected at least one pool"),
        (
            with_("pools.0.capacity.runs", 0),
            "s.yaml: pools[0].capacity.runs: must be a whole number >= 1, got 0",
        ),
        (
            with_("pools.0.capacity", {"gpu": 1}),
            "s.yaml: pools[0].capacity: missing 'runs' (how many Runs one Pod holds at once)",
        ),
        (
            with_("pools.0.capacity.runs", "lots"),
            "s.yaml: pools[0].capacity.runs: invalid quantity 'lots'",
        ),
        (
            with_("pools.0.maxReplica", 4),
            "s.yaml: pools[0]: unknown key 'maxReplica' (did you mean 'maxReplicas'?); "
            "expected any of runtime, replicas, capacity, labels, maxReplicas, "
            "targetUtilisation, scaleDownAfter, startup",
        ),
        (
            with_("pools.0.maxReplicas", 1),
            "s.yaml: pools[0].maxReplicas: must be at least replicas (2), got 1",
        ),
        (
            with_("pools.0.targetUtilisation", 1.5),
            "s.yaml: pools[0].targetUtilisation: must be a finite number within 0..1, got 1.5",
        ),
        (
            with_("pools.0.startup", {"lognorml": {}}),
            "s.yaml: pools[0].startup: unknown distribution 'lognorml' (did you mean 'lognormal'?)",
        ),
        (
            with_("pools.1", {"runtime": "python", "replicas": 1}),
            "s.yaml: pools[1].runtime: 'python' already has a pool (pools[0]); one pool per "
            "runtime",
        ),
        (with_("workloads", []), "s.yaml: workloads: expected at least one workload"),
        (
            with_("workloads.0.arrivals", {"poisson": {"rate": "fast"}}),
            "s.yaml: workloads[0].arrivals.poisson.rate: invalid rate 'fast'",
        ),
        (
            with_("workloads.0.runtime", "pyhton"),
            "s.yaml: workloads[0].runtime: no pool of runtime 'pyhton' (did you mean 'python'?); "
            "pools: python (add one under pools)",
        ),
        (
            with_("workloads.0.runtime", "node"),
            "s.yaml: workloads[0].runtime: no pool of runtime 'node'; pools: python "
            "(add one under pools)",
        ),
        (
            with_("workloads.0.queue", "ci"),
            "s.yaml: workloads[0].queue: no RunQueue named 'ci'; queues: none",
        ),
        (
            with_("workloads.0.requests", {"runs": 1, "gpu": 1}),
            "s.yaml: workloads[0].requests.gpu: 1 does not fit a Pod of pools[0] (python), "
            "which has 0 (capacity runs: 2)",
        ),
        (
            with_("workloads.0", {"trace": {"path": "missing.csv"}}),
            "s.yaml: workloads[0].trace.path: no such file: ",
        ),
        (
            with_("queues", [{"metadata": {"name": "q"}, "spec": {"quota": {"runs": "x"}}}]),
            "s.yaml: queues[0].spec.quota[runs]: invalid quantity 'x'",
        ),
        (
            with_("queues", [{"metadata": {"name": "q"}, "spec": {"wieght": 2}}]),
            "s.yaml: queues[0].spec.wieght: unknown field",
        ),
        (
            with_("queues", [{"kind": "Run", "metadata": {"name": "q"}}]),
            "s.yaml: queues[0].kind: expected RunQueue, got 'Run'",
        ),
        (
            with_("queues", [{"metadata": {"name": "q", "namespace": "other"}}]),
            "s.yaml: queues[0].metadata.namespace: 'other' is not the scenario's namespace "
            "('default')",
        ),
        (
            with_("queues", [{"metadata": {"name": "q"}}, {"metadata": {"name": "q"}}]),
            "s.yaml: queues[1].metadata.name: 'q' is also queues[0]",
        ),
        (
            with_("retry", {"maxAttempts": 0}),
            "s.yaml: retry.maxAttempts: must be a whole number >= 1, got 0",
        ),
        (
            with_("retry", {"backoffSeconds": 1}),
            "s.yaml: retry: unknown key 'backoffSeconds' (did you mean 'backoff'?); expected any "
            "of maxAttempts, backoff, retryableReasons",
        ),
        (
            with_("failures", {"runFailure": 2}),
            "s.yaml: failures.runFailure: must be a finite number within 0..1, got 2",
        ),
        (
            with_("failures", {"podLoss": 1}),
            "s.yaml: failures: unknown key 'podLoss' (did you mean 'podLossPerHour'?)",
        ),
        (
            with_("scheduler", {"ordering": "random"}),
            "s.yaml: scheduler.ordering: unknown ordering 'random'; available: least-loaded, "
            "most-allocated",
        ),
        (
            with_("scheduler", {"admission": "yes"}),
            "s.yaml: scheduler.admission: expected true or false, got 'yes'",
        ),
        (
            with_("scheduler", {"candidatesToScore": 1.5}),
            "s.yaml: scheduler.candidatesToScore: expected a whole number, got 1.5",
        ),
        (
            with_("policies", {"one-pod-per-run": {}}),
            "s.yaml: policies.one-pod-per-run: 'one-pod-per-run' is the baseline's name",
        ),
        (
            with_("policies", {"p": {"ordering": "most-allocated"}}),
            "s.yaml: policies.p: unknown key 'ordering'; expected any of scheduler, plugins",
        ),
        (
            with_("policies", {"p": {"plugins": ["no_such_module_here:X"]}}),
            "s.yaml: policies.p.plugins[0]: cannot import 'no_such_module_here': "
            "ModuleNotFoundError",
        ),
        (
            with_("policies", {"p": {"plugins": ["kruntimes.sim:Nope"]}}),
            "s.yaml: policies.p.plugins[0]: 'kruntimes.sim' has no attribute 'Nope'",
        ),
        (with_("plugins", ["not a name"]), "s.yaml: plugins[0]: expected 'module' or"),
        (
            with_("baseline", {"maxPods": 0}),
            "s.yaml: baseline.maxPods: must be a whole number >= 1",
        ),
        (with_("recommend", {"capacities": [4]}), "s.yaml: recommend: missing 'target'"),
        (
            with_("recommend", {"target": {"p99": "1s", "latency": "e2e"}}),
            "s.yaml: recommend.target.latency: expected one of endToEnd, queueing, got 'e2e'",
        ),
        (
            with_("recommend", {"target": {"p99": "1s"}, "runtime": "node"}),
            "s.yaml: recommend.runtime: no pool of runtime 'node'; pools: python",
        ),
        (
            with_("recommend", {"target": {"p99": "1s"}, "capacities": [0]}),
            "s.yaml: recommend.capacities[0]: must be a whole number >= 1, got 0",
        ),
        (
            with_("recommend", {"target": {"p99": "1s"}, "policy": "fast"}),
            "s.yaml: recommend.policy: no policy named 'fast'; policies: none",
        ),
    ],
)
def test_errors_name_the_file_and_the_key_path(data: object, expected: str) -> None:
    assert expected in error(data)


def test_a_second_pool_makes_recommend_runtime_required() -> None:
    data = with_("pools.1", {"runtime": "node", "replicas": 1})
    data["recommend"] = {"target": {"p99": "1s"}}
    assert "s.yaml: recommend: missing 'runtime': there are several pools (python, node)" in error(
        data
    )


def test_every_problem_of_a_queue_manifest_is_listed() -> None:
    data = with_("queues", [{"metadata": {"name": "q"}, "spec": {"weight": -1, "bad": 1}}])
    lines = error(data).splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("s.yaml: queues[0].spec.") for line in lines)


def test_a_csv_trace_with_a_runtime_column_is_not_checked_against_the_pools(
    tmp_path: Path,
) -> None:
    # calls.csv names its runtime per row (python, node): they are known only when replayed
    trace = {"trace": {"path": "calls.csv", "duration": "10ms", "runtime": "node"}}
    assert parse(with_("workloads.0", trace)).workloads[0].runtime == "node"  # type: ignore[attr-defined]
    # without that column, trace.runtime is every row's, and it needs a pool
    (tmp_path / "t.csv").write_text("at,duration\n0.5,1s\n")
    data = with_("workloads.0", {"trace": {"path": "t.csv", "runtime": "node"}})
    message = error(data, base_dir=tmp_path)
    assert "s.yaml: workloads[0].trace.runtime: no pool of runtime 'node'" in message


def test_a_bad_trace_row_is_a_scenario_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("at,duration\n0.5,1s\n0.7,abc\n")
    data = with_("workloads.0", {"trace": {"path": "t.csv", "runtime": "python"}})
    scenario = parse_scenario(data, base_dir=tmp_path, source="s.yaml")
    with pytest.raises(ScenarioError) as info:
        list(scenario.arrivals())
    message = str(info.value)
    assert message.startswith("s.yaml: workloads[0].trace: ")
    assert "t.csv, line 3, column 'duration'" in message


def test_load_scenario_errors(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    with pytest.raises(ScenarioError, match=r"none\.yaml: cannot read"):
        load_scenario(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\npools: [\n")
    with pytest.raises(ScenarioError, match=r"broken\.yaml: invalid YAML at line 3, column 1"):
        load_scenario(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    with pytest.raises(ScenarioError, match=r"list\.yaml: expected a mapping .*; got a list"):
        load_scenario(listed)


def test_scenario_error_is_a_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)


@pytest.mark.parametrize(
    ("cls", "keys"),
    [(SimSetup, _TOP_KEYS), (PoolSpec, _POOL_KEYS), (FailureModel, _FAILURE_KEYS)],
)
def test_every_field_of_the_setup_has_a_scenario_key(cls: type, keys: tuple[str, ...]) -> None:
    for field in attrs.fields(cls):
        head, *rest = field.name.split("_")
        assert head + "".join(p.capitalize() for p in rest) in keys, f"{cls.__name__}.{field.name}"
