"""Scenario files: a what-if study of warm pools as one YAML document (docs/simulator-scenarios.md).

`load_scenario(path)` reads one; `parse_scenario(data, base_dir=..., source=...)` takes the
mapping already loaded. Multi-word keys are camelCase, as in Kubernetes manifests
(`maxReplicas`, `cycleInterval`); the workload syntax is that of
`kruntimes.sim.arrivals.parse_workload` and `kruntimes.sim.traces.parse_trace`
(docs/simulator-workloads.md). Every problem is a `ScenarioError` (a `ValueError`) whose message
names the file and the key path, says what was expected and, for an unknown key, lists the
known ones: ``scenario.yaml: pools[0].capacity.runs: must be a whole number >= 1, got 0``.

A `Scenario` is a plain frozen value: the `SimSetup` it describes, its workloads (sources of
arrivals), the policies to compare, the baseline and the recommendation to make.
`Scenario.arrivals()` gives a fresh stream each call (streams are consumed by a run), the
same for the same seed.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import importlib
import math
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import attrs
import yaml
from attrs import evolve, field, frozen

from kruntimes.codec import ValidationError, decode_run_queue
from kruntimes.codec.quantities import parse_quantity
from kruntimes.core import SchedulerConfig
from kruntimes.model import DEFAULT_POD_CAPACITY, RUN_QUEUE_KIND, RetryPolicy, RunQueue
from kruntimes.plugin_manager import new_scheduler
from kruntimes.sim.arrivals import Arrival, Source, Workload, parse_workload, scenario_arrivals
from kruntimes.sim.baseline import SYSTEM as ONE_POD_PER_RUN
from kruntimes.sim.distributions import (
    POD_STARTUP_DEFAULT,
    Distribution,
    check_keys,
    expect_mapping,
    expect_name,
    parse_distribution,
    parse_seconds,
    shown,
)
from kruntimes.sim.engine import SYSTEM as KRUNTIMES
from kruntimes.sim.setup import (
    AGENT_RESTART_DEFAULT,
    DISPATCH_DEFAULT,
    REACTION_DEFAULT,
    FailureModel,
    PoolSpec,
    SimSetup,
)
from kruntimes.sim.traces import TraceWorkload, parse_trace

__all__ = [
    "BASELINE",
    "DEFAULT_SYSTEM",
    "LATENCIES",
    "BaselineSpec",
    "Policy",
    "RecommendSpec",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]

DEFAULT_SYSTEM = KRUNTIMES
"""The name of the one result of a scenario without `policies`."""
BASELINE = ONE_POD_PER_RUN
"""The baseline's name; no policy may take it."""
LATENCIES = {"endToEnd": "end_to_end", "queueing": "queueing"}
"""`recommend.target.latency` values and the `Latencies` field each one reads."""
RECOMMEND_MAX_REPLICAS = 1000
_API_VERSION = "kruntimes.io/v1alpha1"


class ScenarioError(ValueError):
    """An invalid scenario; the message names the file and the key path of each problem."""


# -- the value ------------------------------------------------------------------------------


@frozen
class Policy:
    """One scheduling policy to compare: a `SchedulerConfig` and plugins."""

    name: str
    scheduler: SchedulerConfig = field(factory=SchedulerConfig)
    plugins: tuple[object, ...] = ()
    """Plugin objects (modules, instances) or classes; a class is instantiated (no
    arguments) afresh for each simulation, so plugin state never leaks between runs."""


@frozen
class BaselineSpec:
    """The "one Pod per Run" comparison (`kruntimes.sim.baseline.one_pod_per_run`)."""

    startup: Distribution = POD_STARTUP_DEFAULT
    max_pods: int | None = None


@frozen
class RecommendSpec:
    """Find the pool size that meets a p99 target (`kruntimes.sim.recommend.recommend`)."""

    runtime: str
    target_p99: float
    latency: str = "end_to_end"
    """`end_to_end` or `queueing`: the `Latencies` field whose p99 must meet the target."""
    capacities: tuple[int, ...] = ()
    """`runs` per Pod to try; () means the pool's."""
    max_replicas: int = RECOMMEND_MAX_REPLICAS
    horizon: float | None = None
    """Arrivals before this are simulated for each evaluation (None: the scenario's)."""
    policy: str | None = None
    """The policy to size the pool for (None: the first, or the top-level scheduler)."""


@frozen
class Scenario:
    """A what-if study: the system (`setup`), its load (`workloads`) and what to compare."""

    name: str
    horizon: float
    """Arrivals before this virtual time (seconds) are simulated."""
    setup: SimSetup
    """The system with the top-level `scheduler` and `plugins`."""
    workloads: tuple[Source, ...]
    description: str = ""
    seed: int = 0
    drain: float | None = None
    """How long after the horizon Runs in flight may finish (None: the engine's default,
    the horizon again and at least an hour)."""
    policies: Mapping[str, Policy] = field(factory=dict)
    """Policies to compare on the same arrivals; empty: the top-level scheduler alone."""
    baseline: BaselineSpec | None = field(factory=BaselineSpec)
    recommend: RecommendSpec | None = None
    source: str = ""
    """Where the scenario came from (its file), for messages."""

    def arrivals(self, *, until: float | None = None) -> Iterator[Arrival]:
        """A fresh stream of the workloads' arrivals before `until` (default: the horizon).

        An error in a trace's rows (found as they are read) is a `ScenarioError` naming
        the scenario file, the workload and the trace's line.
        """
        stream = scenario_arrivals(
            self.workloads, seed=self.seed, until=self.horizon if until is None else until
        )
        return _named_errors(stream, self.source)

    def systems(self) -> dict[str, SimSetup]:
        """The setup of each result: one per policy, or `{"kruntimes": setup}`.

        Each call makes fresh instances of plugin classes.
        """
        if not self.policies:
            return {DEFAULT_SYSTEM: self.setup_for(None)}
        return {name: self.setup_for(name) for name in self.policies}

    def setup_for(self, policy: str | None) -> SimSetup:
        """The setup with `policy`'s scheduler and plugins (None: the top-level ones)."""
        if policy is None:
            return evolve(self.setup, plugins=_instances(self.setup.plugins))
        chosen = self.policies[policy]
        return evolve(self.setup, scheduler=chosen.scheduler, plugins=_instances(chosen.plugins))

    def pool(self, runtime: str) -> PoolSpec:
        for spec in self.setup.pools:
            if spec.runtime == runtime:
                return spec
        known = ", ".join(p.runtime for p in self.setup.pools)
        raise KeyError(f"no pool of runtime {runtime!r}; pools: {known}")

    def with_overrides(self, *, seed: int | None = None, horizon: float | None = None) -> Scenario:
        """The scenario with another seed or horizon (`krt simulate --seed/--horizon`)."""
        changed = self
        if seed is not None:
            changed = evolve(changed, seed=seed)
        if horizon is not None:
            if not math.isfinite(horizon) or horizon <= 0:
                raise ScenarioError(f"horizon must be a finite number > 0, got {horizon!r}")
            changed = evolve(changed, horizon=horizon)
        return changed


def _instances(plugins: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(p() if isinstance(p, type) else p for p in plugins)


def _named_errors(stream: Iterator[Arrival], source: str) -> Iterator[Arrival]:
    try:
        yield from stream
    except ScenarioError:
        raise
    except ValueError as err:
        raise ScenarioError(_located(source, str(err))) from None


def _located(source: str, message: str) -> str:
    if not source:
        return message
    return "\n".join(f"{source}: {line}" for line in message.splitlines() or [""])


# -- loading --------------------------------------------------------------------------------


def load_scenario(path: Path) -> Scenario:
    """The scenario in the YAML file at `path`; relative trace paths are from its directory."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError(f"{path}: invalid YAML{where}: {problem}") from None
    return parse_scenario(data, base_dir=path.parent, source=str(path))


_TOP_KEYS = (
    "name",
    "description",
    "seed",
    "horizon",
    "drain",
    "namespace",
    "pools",
    "queues",
    "workloads",
    "dispatch",
    "reaction",
    "cycleInterval",
    "autoscaleEvery",
    "retry",
    "failures",
    "scheduler",
    "plugins",
    "entryPoints",
    "policies",
    "baseline",
    "recommend",
)


def parse_scenario(data: Mapping[str, Any], *, base_dir: Path, source: str) -> Scenario:
    """A `Scenario` from its loaded YAML mapping; `ScenarioError` naming `source` otherwise.

    `base_dir` is where relative trace paths start (the scenario file's directory).
    """
    try:
        return _parse(data, base_dir=Path(base_dir), source=source)
    except ScenarioError:
        raise
    except ValueError as err:
        raise ScenarioError(_located(source, str(err))) from None


def _parse(data: object, *, base_dir: Path, source: str) -> Scenario:
    if not isinstance(data, Mapping):
        shown = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ValueError(f"expected a mapping of {', '.join(_TOP_KEYS[:4])}, ...; got {shown}")
    check_keys(data, what="scenario", known=_TOP_KEYS, required=("name", "horizon"))
    name = expect_name(data["name"], what="name")
    description = _text(data.get("description", ""), what="description")
    seed = _integer(data.get("seed", 0), what="seed")
    horizon = _positive_seconds(data["horizon"], what="horizon")
    drain = None if data.get("drain") is None else parse_seconds(data["drain"], what="drain")
    namespace = expect_name(data.get("namespace", "default"), what="namespace")
    pools = _pools(data.get("pools"))
    queues = _queues(data.get("queues"), namespace)
    workloads = _workloads(data.get("workloads"), base_dir)
    _check_references(workloads, pools, queues)
    plugins = _plugins(data.get("plugins"), what="plugins")
    scheduler = _scheduler(data.get("scheduler"), SchedulerConfig(), what="scheduler")
    _check_scheduler(scheduler, plugins, what="scheduler")
    setup = SimSetup(
        pools=pools,
        queues=queues,
        scheduler=scheduler,
        plugins=plugins,
        dispatch=_distribution(data, "dispatch", DISPATCH_DEFAULT, what="dispatch"),
        cycle_interval=parse_seconds(data.get("cycleInterval", 0.0), what="cycleInterval"),
        reaction=_distribution(data, "reaction", REACTION_DEFAULT, what="reaction"),
        retry=_retry(data.get("retry")),
        failures=_failures(data.get("failures")),
        namespace=namespace,
        autoscale_every=_positive_seconds(data.get("autoscaleEvery", 1.0), what="autoscaleEvery"),
        entry_points=_bool(data.get("entryPoints", False), "entryPoints"),
    )
    policies = _policies(data.get("policies"), scheduler, plugins)
    baseline = _baseline(data.get("baseline", True), pools)
    recommend = _recommend(data.get("recommend"), pools, policies)
    return Scenario(
        name=name,
        description=description,
        seed=seed,
        horizon=horizon,
        drain=drain,
        setup=setup,
        workloads=workloads,
        policies=policies,
        baseline=baseline,
        recommend=recommend,
        source=source,
    )


# -- values ---------------------------------------------------------------------------------


def _list(value: object, *, what: str, example: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(f"{what}: expected a list like {example}, got {shown(value)}")
    return value


def _text(value: object, *, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected a string, got {shown(value)}")
    return value


def _integer(value: object, *, what: str, minimum: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: expected a whole number, got {shown(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what}: must be a whole number >= {minimum}, got {value}")
    return value


def _number(value: object, *, what: str, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what}: expected a number, got {shown(value)}")
    if not (math.isfinite(value) and low <= value <= high):
        within = f">= {low:g}" if math.isinf(high) else f"within {low:g}..{high:g}"
        raise ValueError(f"{what}: must be a finite number {within}, got {value!r}")
    return float(value)


def _positive_seconds(value: object, *, what: str) -> float:
    seconds = parse_seconds(value, what=what)
    if seconds <= 0:
        raise ValueError(f"{what}: must be greater than 0, got {shown(value)}")
    return seconds


def _distribution(
    data: Mapping[str, Any], key: str, default: Distribution, *, what: str
) -> Distribution:
    value = data.get(key)
    return default if value is None else parse_distribution(value, what=what)


def _quantities(value: object, *, what: str, example: str) -> dict[str, int]:
    spec = expect_mapping(value, what=what, example=example)
    out: dict[str, int] = {}
    for key, amount in spec.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{what}: resource names must be non-empty strings, got {key!r}")
        try:
            out[key] = parse_quantity(amount)
        except ValueError as err:
            raise ValueError(f"{what}.{key}: {err}") from None
        if out[key] < 0:
            raise ValueError(f"{what}.{key}: must not be negative, got {amount!r}")
    return out


def _strings(value: object, *, what: str) -> dict[str, str]:
    spec = expect_mapping(value, what=what, example="{tier: fast}")
    out: dict[str, str] = {}
    for key, text in spec.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{what}: keys must be non-empty strings, got {key!r}")
        if not isinstance(text, str):
            raise ValueError(f"{what}.{key}: expected a string, got {shown(text)}")
        out[key] = text
    return out


# -- pools, queues, workloads ---------------------------------------------------------------

_POOL_KEYS = (
    "runtime",
    "replicas",
    "capacity",
    "labels",
    "maxReplicas",
    "targetUtilisation",
    "scaleDownAfter",
    "startup",
)


def _pools(value: object) -> tuple[PoolSpec, ...]:
    if value is None:
        raise ValueError("scenario: missing 'pools' (at least one pool of warm Pods)")
    items = _list(value, what="pools", example="[{runtime: python, replicas: 10}]")
    if not items:
        raise ValueError("pools: expected at least one pool")
    pools: list[PoolSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        what = f"pools[{i}]"
        spec = expect_mapping(item, what=what, example="{runtime: python, replicas: 10}")
        check_keys(spec, what=what, known=_POOL_KEYS, required=("runtime", "replicas"))
        runtime = expect_name(spec["runtime"], what=f"{what}.runtime")
        if runtime in seen:
            raise ValueError(
                f"{what}.runtime: {runtime!r} already has a pool (pools[{seen[runtime]}]); "
                f"one pool per runtime"
            )
        seen[runtime] = i
        replicas = _integer(spec["replicas"], what=f"{what}.replicas", minimum=0)
        capacity = dict(DEFAULT_POD_CAPACITY)
        if spec.get("capacity") is not None:
            capacity = _quantities(spec["capacity"], what=f"{what}.capacity", example="{runs: 8}")
            if "runs" not in capacity:
                raise ValueError(
                    f"{what}.capacity: missing 'runs' (how many Runs one Pod holds at once)"
                )
        if capacity["runs"] < 1:
            raise ValueError(
                f"{what}.capacity.runs: must be a whole number >= 1, got {capacity['runs']}"
            )
        max_replicas = None
        if spec.get("maxReplicas") is not None:
            max_replicas = _integer(spec["maxReplicas"], what=f"{what}.maxReplicas", minimum=0)
            if max_replicas < replicas:
                raise ValueError(
                    f"{what}.maxReplicas: must be at least replicas ({replicas}), "
                    f"got {max_replicas}"
                )
        target = _number(
            spec.get("targetUtilisation", 0.8), what=f"{what}.targetUtilisation", high=1.0
        )
        if target <= 0:
            raise ValueError(f"{what}.targetUtilisation: must be within (0, 1], got {target:g}")
        pools.append(
            PoolSpec(
                runtime=runtime,
                replicas=replicas,
                capacity=capacity,
                labels=_strings(spec.get("labels") or {}, what=f"{what}.labels"),
                max_replicas=max_replicas,
                target_utilisation=target,
                scale_down_after=parse_seconds(
                    spec.get("scaleDownAfter", 60.0), what=f"{what}.scaleDownAfter"
                ),
                startup=_distribution(spec, "startup", POD_STARTUP_DEFAULT, what=f"{what}.startup"),
            )
        )
    return tuple(pools)


def _queues(value: object, namespace: str) -> tuple[RunQueue, ...]:
    """RunQueue manifests, as `krt apply` takes them; `apiVersion` and `kind` may be left out."""
    if value is None:
        return ()
    items = _list(value, what="queues", example="[{metadata: {name: ci}, spec: {quota: ...}}]")
    queues: list[RunQueue] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        what = f"queues[{i}]"
        doc = dict(
            expect_mapping(item, what=what, example="{metadata: {name: ci}, spec: {weight: 2}}")
        )
        kind = doc.setdefault("kind", RUN_QUEUE_KIND)
        if kind != RUN_QUEUE_KIND:
            raise ValueError(f"{what}.kind: expected {RUN_QUEUE_KIND}, got {shown(kind)}")
        doc.setdefault("apiVersion", _API_VERSION)
        metadata = doc.get("metadata")
        if isinstance(metadata, Mapping) and "namespace" not in metadata:
            doc["metadata"] = {**metadata, "namespace": namespace}
        try:
            queue = decode_run_queue(doc, strict=True).value
        except ValidationError as err:
            raise ValueError("\n".join(f"{what}.{e}" for e in err.errors)) from None
        name = queue.metadata.name
        if queue.metadata.namespace != namespace:
            raise ValueError(
                f"{what}.metadata.namespace: {queue.metadata.namespace!r} is not the "
                f"scenario's namespace ({namespace!r}), where every Run is"
            )
        if name in seen:
            raise ValueError(f"{what}.metadata.name: {name!r} is also queues[{seen[name]}]")
        seen[name] = i
        queues.append(queue)
    return tuple(queues)


def _workloads(value: object, base_dir: Path) -> tuple[Source, ...]:
    if value is None:
        raise ValueError("scenario: missing 'workloads' (at least one source of Runs)")
    items = _list(
        value, what="workloads", example="[{runtime: python, arrivals: ..., duration: ...}]"
    )
    if not items:
        raise ValueError("workloads: expected at least one workload")
    out: list[Source] = []
    for i, item in enumerate(items):
        what = f"workloads[{i}]"
        if isinstance(item, Mapping) and "trace" in item:
            out.append(parse_trace(item, what=what, base_dir=base_dir))
        else:
            out.append(parse_workload(item, what=what))
    return tuple(out)


def _trace_runtime(trace: TraceWorkload) -> str | None:
    """The one runtime of a trace's arrivals, if known without reading its rows."""
    if trace.runtime_by is not None or trace.runtime is None:
        return None
    if trace.format == "csv":
        opener: Callable[..., IO[str]] = gzip.open if trace.path.suffix == ".gz" else open
        with opener(trace.path, "rt", encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
        if "runtime" in (h.strip() for h in header):
            return None  # a column per row
    return trace.runtime


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_references(
    workloads: tuple[Source, ...], pools: tuple[PoolSpec, ...], queues: tuple[RunQueue, ...]
) -> None:
    """Each workload's runtime has a pool that can hold its Runs, and its queue exists."""
    by_runtime = {p.runtime: (i, p) for i, p in enumerate(pools)}
    queue_names = [q.metadata.name for q in queues]
    for i, source in enumerate(workloads):
        what = f"workloads[{i}]"
        requests: Mapping[str, int] | None = None
        if isinstance(source, Workload):
            runtime: str | None = source.runtime
            queue, requests = source.queue, source.requests
        elif isinstance(source, TraceWorkload):
            what += ".trace"
            runtime, queue, requests = _trace_runtime(source), source.queue, source.requests
        else:  # pragma: no cover - the parsers make only these
            continue
        if runtime is not None and runtime not in by_runtime:
            hint = _did_you_mean(runtime, by_runtime)
            raise ValueError(
                f"{what}.runtime: no pool of runtime {runtime!r}{hint}; "
                f"pools: {', '.join(by_runtime)} (add one under pools)"
            )
        if queue is not None and queue not in queue_names:
            have = ", ".join(queue_names) or "none"
            raise ValueError(
                f"{what}.queue: no RunQueue named {queue!r}{_did_you_mean(queue, queue_names)}; "
                f"queues: {have} (add one under queues)"
            )
        if runtime is not None and requests:
            index, pool = by_runtime[runtime]
            for resource, amount in requests.items():
                has = pool.capacity.get(resource, 0)
                if amount > has:
                    raise ValueError(
                        f"{what}.requests.{resource}: {amount} does not fit a Pod of "
                        f"pools[{index}] ({runtime}), which has {has} (capacity "
                        f"{', '.join(f'{k}: {v}' for k, v in pool.capacity.items())})"
                    )


# -- the core's knobs -----------------------------------------------------------------------

_RETRY_KEYS = ("maxAttempts", "backoff", "retryableReasons")


def _retry(value: object) -> RetryPolicy:
    """`{maxAttempts: 3, backoff: 1s, retryableReasons: [...]}`, as a Run's `spec.retryPolicy`."""
    if value is None:
        return RetryPolicy()
    spec = expect_mapping(value, what="retry", example="{maxAttempts: 3, backoff: 1s}")
    check_keys(spec, what="retry", known=_RETRY_KEYS)
    attempts = _integer(spec.get("maxAttempts", 1), what="retry.maxAttempts", minimum=1)
    if attempts > 100:
        raise ValueError(f"retry.maxAttempts: must be 1..100, got {attempts}")
    reasons = spec.get("retryableReasons") or []
    items = _list(reasons, what="retry.retryableReasons", example="[ExecutionLost, PodGone]")
    for j, reason in enumerate(items):
        expect_name(reason, what=f"retry.retryableReasons[{j}]")
    return RetryPolicy(
        max_attempts=attempts,
        backoff_seconds=parse_seconds(spec.get("backoff", 1.0), what="retry.backoff"),
        retryable_reasons=tuple(items),
    )


_FAILURE_KEYS = ("podLossPerHour", "agentCrashPerHour", "agentRestart", "runFailure")


def _failures(value: object) -> FailureModel:
    if value is None:
        return FailureModel()
    what = "failures"
    spec = expect_mapping(value, what=what, example="{podLossPerHour: 0.5, runFailure: 0.01}")
    check_keys(spec, what=what, known=_FAILURE_KEYS)
    return FailureModel(
        pod_loss_per_hour=_number(spec.get("podLossPerHour", 0), what=f"{what}.podLossPerHour"),
        agent_crash_per_hour=_number(
            spec.get("agentCrashPerHour", 0), what=f"{what}.agentCrashPerHour"
        ),
        agent_restart=_distribution(
            spec, "agentRestart", AGENT_RESTART_DEFAULT, what=f"{what}.agentRestart"
        ),
        run_failure=_number(spec.get("runFailure", 0), what=f"{what}.runFailure", high=1.0),
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _scheduler_fields() -> dict[str, tuple[str, Callable[[object, str], object]]]:
    """camelCase key -> (SchedulerConfig field, parser), from the config's own annotations."""
    hints = typing.get_type_hints(SchedulerConfig)
    out: dict[str, tuple[str, Callable[[object, str], object]]] = {}
    for f in attrs.fields(SchedulerConfig):
        out[_camel(f.name)] = (f.name, _value_parser(f.name, hints[f.name]))
    return out


def _value_parser(name: str, hint: object) -> Callable[[object, str], object]:
    """How to read a `SchedulerConfig` field of type `hint` from YAML."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return _bool
    if hint is str:
        return lambda v, what: expect_name(v, what=what)
    if hint is int:
        return lambda v, what: _integer(v, what=what)
    if hint is float:
        if name.endswith("_seconds"):
            return lambda v, what: parse_seconds(v, what=what)
        return lambda v, what: _number(v, what=what, low=-math.inf)
    if args and type(None) in args and len(args) == 2:
        inner = _value_parser(name, next(a for a in args if a is not type(None)))
        return lambda v, what: None if v is None else inner(v, what)
    if origin is tuple and args and args[0] is str:
        return lambda v, what: tuple(
            expect_name(s, what=f"{what}[{j}]")
            for j, s in enumerate(_list(v, what=what, example="[name]"))
        )
    if origin is not None and issubclass(origin, Mapping) and args == (str, int):
        return lambda v, what: {
            str(k): _integer(n, what=f"{what}.{k}")
            for k, n in expect_mapping(v, what=what, example="{name: 1}").items()
        }
    return lambda v, what: v  # pragma: no cover - a field type this reader does not know


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what}: expected true or false, got {shown(value)}")
    return value


def _scheduler(value: object, base: SchedulerConfig, *, what: str) -> SchedulerConfig:
    """`base` with the keys of `value` (camelCase `SchedulerConfig` fields) replaced."""
    if value is None:
        return base
    spec = expect_mapping(value, what=what, example="{ordering: most-allocated}")
    fields = _scheduler_fields()
    check_keys(spec, what=what, known=tuple(fields))
    changes: dict[str, Any] = {}
    for key, raw in spec.items():
        attr, parse = fields[key]
        changes[attr] = parse(raw, f"{what}.{key}")
    try:
        return evolve(base, **changes)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}: {err}") from None


def _check_scheduler(config: SchedulerConfig, plugins: tuple[object, ...], *, what: str) -> None:
    """Build the scheduler once, so an unknown ordering or a bad plugin is caught now."""
    try:
        new_scheduler(config, _instances(plugins), load_entry_points=False)
    except ValueError as err:  # PluginError
        where = f"{what}.ordering" if "ordering" in str(err) else what
        raise ValueError(f"{where}: {err}") from None


_PLUGIN = re.compile(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?")


def _plugins(value: object, *, what: str) -> tuple[object, ...]:
    """`["module", "module:attr"]`: modules or their attributes, imported now."""
    if value is None:
        return ()
    items = _list(value, what=what, example='["my_plugins:Spread"]')
    out: list[object] = []
    for j, item in enumerate(items):
        here = f"{what}[{j}]"
        if not isinstance(item, str) or not _PLUGIN.fullmatch(item):
            raise ValueError(f"{here}: expected 'module' or 'module:attribute', got {shown(item)}")
        module_name, _, attr = item.partition(":")
        try:
            obj: object = importlib.import_module(module_name)
        except Exception as err:  # any import-time failure of user code
            raise ValueError(
                f"{here}: cannot import {module_name!r}: {type(err).__name__}: {err}"
            ) from None
        for part in attr.split(".") if attr else ():
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise ValueError(f"{here}: {module_name!r} has no attribute {attr!r}") from None
        out.append(obj)
    return tuple(out)


_POLICY_KEYS = ("scheduler", "plugins")


def _policies(
    value: object, scheduler: SchedulerConfig, plugins: tuple[object, ...]
) -> dict[str, Policy]:
    if value is None:
        return {}
    example = "{spread: {scheduler: {ordering: least-loaded}}}"
    spec = expect_mapping(value, what="policies", example=example)
    if not spec:
        raise ValueError("policies: expected at least one policy (or leave policies out)")
    out: dict[str, Policy] = {}
    for name, body in spec.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"policies: names must be non-empty strings, got {name!r}")
        what = f"policies.{name}"
        if name == BASELINE:
            raise ValueError(f"{what}: {BASELINE!r} is the baseline's name; pick another")
        given = expect_mapping(
            {} if body is None else body,
            what=what,
            example="{scheduler: {ordering: most-allocated}}",
        )
        check_keys(given, what=what, known=_POLICY_KEYS)
        config = _scheduler(given.get("scheduler"), scheduler, what=f"{what}.scheduler")
        extra = _plugins(given.get("plugins"), what=f"{what}.plugins")
        _check_scheduler(config, plugins + extra, what=f"{what}.scheduler")
        out[name] = Policy(name=name, scheduler=config, plugins=plugins + extra)
    return out


# -- baseline and recommendation ------------------------------------------------------------

_BASELINE_KEYS = ("startup", "maxPods")


def _baseline(value: object, pools: tuple[PoolSpec, ...]) -> BaselineSpec | None:
    """`false`: none; `true` or a mapping: on. Start-up defaults to the first pool's."""
    if value is False:
        return None
    startup = pools[0].startup
    if value is True or value is None:
        return BaselineSpec(startup=startup)
    spec = expect_mapping(
        value, what="baseline", example="{startup: {lognormal: {p50: 2s, p99: 8s}}}"
    )
    check_keys(spec, what="baseline", known=_BASELINE_KEYS)
    max_pods = spec.get("maxPods")
    if max_pods is not None:
        max_pods = _integer(max_pods, what="baseline.maxPods", minimum=1)
    return BaselineSpec(
        startup=_distribution(spec, "startup", startup, what="baseline.startup"),
        max_pods=max_pods,
    )


_RECOMMEND_KEYS = ("runtime", "target", "capacities", "maxReplicas", "horizon", "policy")
_TARGET_KEYS = ("p99", "latency")


def _recommend(
    value: object, pools: tuple[PoolSpec, ...], policies: Mapping[str, Policy]
) -> RecommendSpec | None:
    if value is None or value is False:
        return None
    what = "recommend"
    spec = expect_mapping(value, what=what, example="{target: {p99: 500ms}, capacities: [4, 8]}")
    check_keys(spec, what=what, known=_RECOMMEND_KEYS, required=("target",))
    runtimes = [p.runtime for p in pools]
    if spec.get("runtime") is None:
        if len(pools) > 1:
            raise ValueError(
                f"{what}: missing 'runtime': there are several pools ({', '.join(runtimes)})"
            )
        runtime = runtimes[0]
    else:
        runtime = expect_name(spec["runtime"], what=f"{what}.runtime")
        if runtime not in runtimes:
            raise ValueError(
                f"{what}.runtime: no pool of runtime {runtime!r}; pools: {', '.join(runtimes)}"
            )
    pool = pools[runtimes.index(runtime)]
    target = expect_mapping(spec["target"], what=f"{what}.target", example="{p99: 500ms}")
    check_keys(target, what=f"{what}.target", known=_TARGET_KEYS, required=("p99",))
    p99 = _positive_seconds(target["p99"], what=f"{what}.target.p99")
    latency = target.get("latency", "endToEnd")
    if not isinstance(latency, str) or latency not in LATENCIES:
        raise ValueError(
            f"{what}.target.latency: expected one of {', '.join(LATENCIES)}, got {shown(latency)}"
        )
    capacities: tuple[int, ...] = (pool.slots,)
    if spec.get("capacities") is not None:
        items = _list(spec["capacities"], what=f"{what}.capacities", example="[4, 8, 16]")
        if not items:
            raise ValueError(f"{what}.capacities: expected at least one capacity")
        capacities = tuple(
            _integer(c, what=f"{what}.capacities[{j}]", minimum=1) for j, c in enumerate(items)
        )
        capacities = tuple(dict.fromkeys(capacities))
    max_replicas = _integer(
        spec.get("maxReplicas", RECOMMEND_MAX_REPLICAS), what=f"{what}.maxReplicas", minimum=1
    )
    horizon = None
    if spec.get("horizon") is not None:
        horizon = _positive_seconds(spec["horizon"], what=f"{what}.horizon")
    policy = None
    if spec.get("policy") is not None:
        policy = expect_name(spec["policy"], what=f"{what}.policy")
        if policy not in policies:
            have = ", ".join(policies) or "none"
            raise ValueError(f"{what}.policy: no policy named {policy!r}; policies: {have}")
    elif policies:
        policy = next(iter(policies))
    return RecommendSpec(
        runtime=runtime,
        target_p99=p99,
        latency=LATENCIES[latency],
        capacities=capacities,
        max_replicas=max_replicas,
        horizon=horizon,
        policy=policy,
    )
