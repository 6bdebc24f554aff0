"""Hypothesis strategies for scheduler tests: Pods, Runs, clusters and event sequences.

They draw from small vocabularies on purpose (a few runtimes, zones, label
values, capacities of 1-4 slots) so that generated Runs collide: Pods fill
up, selectors match, anti-affinity bites, heartbeats go stale. For
wire-valid objects that reach every field of the model, see
`kruntimes.testing.model_strategies`.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from kruntimes.core import SchedulerConfig
from kruntimes.model import (
    Affinity,
    FailureReason,
    GangSpec,
    GangTimeoutAction,
    LabelSelector,
    LabelSelectorRequirement,
    Phase,
    RetryPolicy,
    Run,
    RunAffinityRules,
    RunAffinityTerm,
    RunQueue,
    RuntimePod,
    SelectorOperator,
    WeightedRunAffinityTerm,
)
from kruntimes.testing.builders import DEFAULT_NAMESPACE, EPOCH, make_pod, make_queue, make_run
from kruntimes.testing.scenario import (
    AddPod,
    Advance,
    Cancel,
    Conflict,
    Cycle,
    DeleteRun,
    Fail,
    Finish,
    Heartbeat,
    KillPod,
    Relabel,
    ReplacePod,
    SetReady,
    Start,
    Step,
    Submit,
    TerminatePod,
)

RUNTIMES = ("bash", "python")
ZONES = ("zone-a", "zone-b", "zone-c")
ZONE_LABEL = "topology.kubernetes.io/zone"
RUN_LABEL_KEYS = ("app", "tenant")
RUN_LABEL_VALUES = ("a", "b", "c")
RETRY_REASONS = (
    FailureReason.POD_GONE,
    FailureReason.POD_UNHEALTHY,
    FailureReason.POD_TERMINATING,
    FailureReason.RUNTIME_ERROR,
)
BACKOFFS = (0.0, 0.5, 1.0, 2.0, 5.0, 40.0)
"""Exact in binary and in microseconds, so times survive the datetime round trip."""
ADVANCES = (0.5, 1.0, 2.0, 5.0, 10.0, 14.5, 15.0, 15.5, 16.0, 29.5, 30.0, 31.0, 45.0, 61.0)
"""Steps of virtual time that land on and around the 15 s / 30 s thresholds."""
_POD_NAMES = st.sampled_from([f"p{i}" for i in range(6)])
_RUN_NAMES = st.sampled_from([f"r{i}" for i in range(12)])


def run_labels() -> st.SearchStrategy[dict[str, str]]:
    """Labels from a tiny vocabulary (`app`, `tenant` in a/b/c) so selectors match often."""
    return st.dictionaries(st.sampled_from(RUN_LABEL_KEYS), st.sampled_from(RUN_LABEL_VALUES))


_run_labels = run_labels


def selectors() -> st.SearchStrategy[LabelSelector]:
    """Non-empty selectors over `run_labels()`: mostly matchLabels, some expressions."""
    keys, values = st.sampled_from(RUN_LABEL_KEYS), st.sampled_from(RUN_LABEL_VALUES)
    by_labels = st.dictionaries(keys, values, min_size=1, max_size=2).map(
        lambda m: LabelSelector(match_labels=m)
    )
    requirement = st.one_of(
        st.builds(
            LabelSelectorRequirement,
            keys,
            st.sampled_from([SelectorOperator.IN, SelectorOperator.NOT_IN]),
            st.lists(values, min_size=1, max_size=2, unique=True),
        ),
        st.builds(
            LabelSelectorRequirement,
            keys,
            st.sampled_from([SelectorOperator.EXISTS, SelectorOperator.DOES_NOT_EXIST]),
        ),
    )
    by_expr = st.lists(requirement, min_size=1, max_size=2).map(
        lambda reqs: LabelSelector(match_expressions=reqs)
    )
    return st.one_of(by_labels, by_labels, by_expr)


def _terms() -> st.SearchStrategy[RunAffinityTerm]:
    return selectors().map(RunAffinityTerm)


def _rules() -> st.SearchStrategy[RunAffinityRules]:
    weighted = st.builds(WeightedRunAffinityTerm, st.integers(1, 100), _terms())
    return st.builds(
        RunAffinityRules,
        required=st.lists(_terms(), max_size=2),
        preferred=st.lists(weighted, max_size=2),
    )


def affinities() -> st.SearchStrategy[Affinity | None]:
    """None mostly; else required / preferred affinity and anti-affinity terms."""
    some = st.builds(
        Affinity,
        run_affinity=st.none() | _rules(),
        run_anti_affinity=st.none() | _rules(),
    )
    return st.one_of(st.none(), st.none(), some)


def retry_policies() -> st.SearchStrategy[RetryPolicy]:
    """1-4 attempts, backoffs from 0 to past the 60 s cap, sometimes a reason list."""
    return st.builds(
        RetryPolicy,
        max_attempts=st.integers(1, 4),
        backoff_seconds=st.sampled_from(BACKOFFS),
        retryable_reasons=st.one_of(
            st.just(()), st.lists(st.sampled_from(RETRY_REASONS), max_size=2, unique=True)
        ),
    )


def requests(*, allow_invalid: bool = False) -> st.SearchStrategy[dict[str, int]]:
    """`runs` 0-2 (mostly 1), sometimes `cpu` 1-4; with `allow_invalid`, rarely negative."""
    valid = st.fixed_dictionaries(
        {"runs": st.sampled_from([1, 1, 1, 2, 0])},
        optional={"cpu": st.integers(1, 4)},
    )
    if not allow_invalid:
        return valid
    invalid = st.sampled_from([False] * 15 + [True])
    return invalid.flatmap(lambda bad: st.just({"runs": -1}) if bad else valid)


def capacities() -> st.SearchStrategy[dict[str, int] | None]:
    """1-4 slots, sometimes cpu 2-8; None means the default (`runs: 2`)."""
    explicit = st.fixed_dictionaries(
        {"runs": st.integers(1, 4)}, optional={"cpu": st.integers(2, 8)}
    )
    return st.one_of(st.none(), explicit, explicit)


def pod_labels() -> st.SearchStrategy[dict[str, str]]:
    """Usually a zone label (`topology.kubernetes.io/zone`), sometimes none."""
    return st.one_of(st.just({}), st.sampled_from(ZONES).map(lambda z: {ZONE_LABEL: z}))


@st.composite
def pods(
    draw: st.DrawFn,
    name: str | st.SearchStrategy[str] = _POD_NAMES,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    runtimes: Sequence[str] = RUNTIMES,
    now: float = EPOCH,
    healthy: bool | None = None,
    labels: st.SearchStrategy[dict[str, str]] | None = None,
) -> RuntimePod:
    """A Runtime Pod; `healthy=True` gives a ready Pod with a heartbeat at `now`,
    None mixes in unready, silent and terminating ones."""
    pod_name = name if isinstance(name, str) else draw(name)
    alive = True if healthy else draw(st.sampled_from([True, True, True, False]))
    deleting = False if healthy or alive else draw(st.booleans())
    return make_pod(
        pod_name,
        draw(st.sampled_from(list(runtimes))),
        namespace=namespace,
        capacity=draw(capacities()),
        labels=draw(labels if labels is not None else pod_labels()),
        ready=alive or draw(st.booleans()),
        heartbeat=now if alive else draw(st.none() | st.just(now)),
        deleting=deleting,
        deletion_time=now if deleting else None,
    )


@st.composite
def runs(
    draw: st.DrawFn,
    name: str | st.SearchStrategy[str] = _RUN_NAMES,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    runtimes: Sequence[str] = RUNTIMES,
    allow_invalid: bool = False,
    labels: st.SearchStrategy[dict[str, str]] | None = None,
    queues: Sequence[str | None] = (),
) -> Run:
    """A Pending Run with scheduler-relevant fields drawn: requests, labels, affinity, retry,
    priority (mostly the default, so that most Runs share a level), and a queue out of
    `queues` (None: the default queue)."""
    run_name = name if isinstance(name, str) else draw(name)
    return make_run(
        run_name,
        draw(st.sampled_from(list(runtimes))),
        namespace=namespace,
        requests=draw(requests(allow_invalid=allow_invalid)),
        labels=draw(labels if labels is not None else run_labels()),
        affinity=draw(affinities()),
        retry=draw(retry_policies()),
        priority=draw(st.sampled_from((0, 0, 0, 1, -1, 5))),
        queue=draw(st.sampled_from(queues)) if queues else None,
    )


QUEUE_NAMES = ("a", "b", "c")
COHORT = "shared"
_QUEUE_NAMES = st.sampled_from(QUEUE_NAMES)


@st.composite
def run_queues(
    draw: st.DrawFn,
    name: str | st.SearchStrategy[str] = _QUEUE_NAMES,
    *,
    namespace: str = DEFAULT_NAMESPACE,
) -> RunQueue:
    """A RunQueue with a small quota (or none), a weight, maybe the shared cohort, maybe a
    borrowing limit, strict or best-effort FIFO, maybe `maxPending`, a short starvation
    limit: small enough that queues refuse, borrow and block within a few Runs."""
    queue_name = name if isinstance(name, str) else draw(name)
    quota = draw(st.sampled_from([{}, {"runs": 1}, {"runs": 2}, {"runs": 3}, {"cpu": 2}]))
    cohort = draw(st.sampled_from([None, COHORT]))  # often shared: borrowing needs two
    return make_queue(
        queue_name,
        namespace=namespace,
        quota=quota,
        weight=draw(st.sampled_from([1.0, 1.0, 2.0, 3.0])),
        cohort=cohort,
        borrowing_limit=draw(st.sampled_from([None, {"runs": 1}])) if cohort else None,
        max_pending=draw(st.sampled_from([None, None, None, 2])),
        strict=draw(st.booleans()),
        starvation_limit_seconds=draw(st.sampled_from([5.0, 20.0, 60.0])),
    )


def gang_specs(name: str) -> st.SearchStrategy[GangSpec]:
    """A gang of 2-3 Runs named `name`, sometimes with a timeout (failing or waiting on)."""
    return st.builds(
        GangSpec,
        name=st.just(name),
        size=st.integers(2, 3),
        timeout_seconds=st.sampled_from([None, None, 20.0, 45.0]),
        on_timeout=st.sampled_from(list(GangTimeoutAction)),
    )


@st.composite
def clusters(
    draw: st.DrawFn,
    *,
    min_pods: int = 1,
    max_pods: int = 6,
    namespace: str = DEFAULT_NAMESPACE,
    runtimes: Sequence[str] = RUNTIMES,
    now: float = EPOCH,
    healthy: bool | None = True,
    labels: st.SearchStrategy[dict[str, str]] | None = None,
) -> list[RuntimePod]:
    """Pods with distinct names `p0..pN`; all healthy by default."""
    n = draw(st.integers(min_pods, max_pods))
    return [
        draw(
            pods(
                f"p{i}",
                namespace=namespace,
                runtimes=runtimes,
                now=now,
                healthy=healthy,
                labels=labels,
            )
        )
        for i in range(n)
    ]


def scheduler_configs() -> st.SearchStrategy[SchedulerConfig]:
    """Either ordering, with or without a wider scoring window."""
    return st.builds(
        SchedulerConfig,
        ordering=st.sampled_from(["least-loaded", "most-allocated"]),
        candidates_to_score=st.sampled_from([None, 1, 2, 8]),
    )


@st.composite
def steps(
    draw: st.DrawFn,
    *,
    pod_names: Sequence[str],
    run_names: Sequence[str],
    runtimes: Sequence[str] = RUNTIMES,
    allow_invalid: bool = False,
    pod_labels: st.SearchStrategy[dict[str, str]] | None = None,
    run_labels: st.SearchStrategy[dict[str, str]] | None = None,
) -> Step:
    """One thing that happens to a cluster; `scenario.play` skips steps that do not apply."""
    pod = st.sampled_from(list(pod_names))
    run = st.sampled_from(list(run_names))
    choices: list[st.SearchStrategy[Step]] = [
        pod.flatmap(lambda n: pods(n, runtimes=runtimes, labels=pod_labels)).map(AddPod),
        st.builds(Heartbeat, pod),
        st.just(Heartbeat(None)),
        st.builds(SetReady, pod, st.booleans()),
        st.builds(TerminatePod, pod, st.booleans()),
        st.builds(KillPod, pod),
        st.builds(ReplacePod, pod),
        run.flatmap(
            lambda n: runs(n, runtimes=runtimes, allow_invalid=allow_invalid, labels=run_labels)
        ).map(Submit),
        st.builds(Start, run),
        st.builds(
            Finish,
            run,
            st.sampled_from([Phase.SUCCEEDED, Phase.FAILED, Phase.TIMEOUT, Phase.CANCELLED]),
        ),
        st.builds(Fail, run, st.sampled_from(RETRY_REASONS)),
        st.builds(Cancel, run),
        st.builds(DeleteRun, run),
        st.builds(Relabel, run, run_labels if run_labels is not None else _run_labels()),
        st.builds(Advance, st.sampled_from(ADVANCES)),
        st.builds(Conflict, st.integers(0, 7), st.integers(1, 2)),
        st.builds(Cycle, st.sampled_from([None, None, None, 1])),
    ]
    return draw(st.one_of(choices))


def event_sequences(
    *,
    pods: int = 4,
    runs: int = 8,
    min_size: int = 1,
    max_size: int = 40,
    runtimes: Sequence[str] = RUNTIMES,
    allow_invalid: bool = False,
    pod_labels: st.SearchStrategy[dict[str, str]] | None = None,
    run_labels: st.SearchStrategy[dict[str, str]] | None = None,
) -> st.SearchStrategy[list[Step]]:
    """Sequences of steps over Pods `p0..` and Runs `r0..`: Pods join, leave, go stale, are
    replaced; Runs arrive, start, finish, fail, are cancelled; writes conflict; time passes."""
    pod_names = [f"p{i}" for i in range(pods)]
    run_names = [f"r{i}" for i in range(runs)]
    return st.lists(
        steps(
            pod_names=pod_names,
            run_names=run_names,
            runtimes=runtimes,
            allow_invalid=allow_invalid,
            pod_labels=pod_labels,
            run_labels=run_labels,
        ),
        min_size=min_size,
        max_size=max_size,
    )


__all__ = [
    "ADVANCES",
    "BACKOFFS",
    "COHORT",
    "QUEUE_NAMES",
    "RETRY_REASONS",
    "RUNTIMES",
    "RUN_LABEL_KEYS",
    "RUN_LABEL_VALUES",
    "ZONES",
    "ZONE_LABEL",
    "affinities",
    "capacities",
    "clusters",
    "event_sequences",
    "gang_specs",
    "pod_labels",
    "pods",
    "requests",
    "retry_policies",
    "run_labels",
    "run_queues",
    "runs",
    "scheduler_configs",
    "selectors",
    "steps",
]
