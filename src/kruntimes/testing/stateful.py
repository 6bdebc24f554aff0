"""`SchedulerMachine`: a hypothesis state machine that drives the core through a `Harness`
and checks it against the plain `ReferenceModel`.

Rules make things happen (Pods join, heartbeat, go unready, terminate, vanish,
come back under a new UID; Runs arrive, start, finish, fail and retry, are
cancelled, relabelled, deleted; time passes; writes conflict). After every
cycle the plan is checked: capacity, availability, affinity, backoff, stale
reaping, reasons for waiting, wake-ups. After every step the core's
bookkeeping must match the model; at the end the whole history is replayed
into a fresh scheduler (determinism, `unreserve` idempotence) and the cluster
is left without heartbeats until every Run has let go of its Pod.

Subclass it to test your plugins::

    class ZoneMachine(SchedulerMachine):
        def plugins(self):
            return [ZoneSpread()]

    TestZoneMachine = ZoneMachine.TestCase
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

from attrs import evolve
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kruntimes.core import Plan, Requeue, RunKey, SchedulerConfig, Wait, WaitReason
from kruntimes.core.state import PodKey
from kruntimes.model import CAPACITY_PHASES, Phase, RunQueue, WaitCode
from kruntimes.testing.builders import DEFAULT_NAMESPACE
from kruntimes.testing.harness import Harness
from kruntimes.testing.reference import InvariantViolation, ReferenceModel
from kruntimes.testing.strategies import (
    ADVANCES,
    QUEUE_NAMES,
    RETRY_REASONS,
    RUNTIMES,
    capacities,
    clusters,
    gang_specs,
    pods,
    run_queues,
    runs,
)
from kruntimes.testing.strategies import pod_labels as default_pod_labels
from kruntimes.testing.strategies import run_labels as default_run_labels

POD_TROUBLE = (
    "heartbeat",
    "heartbeat",
    "heartbeat",
    "unready",
    "resize",
    "terminate",
    "terminate-untimed",
    "kill",
    "replace",
    "silence",
)
AGENT_ACTIONS = ("finish", "finish", "fail", "cancel")
CLIENT_ACTIONS = ("cancel", "relabel", "relabel", "delete")
END_PHASES = (Phase.SUCCEEDED, Phase.SUCCEEDED, Phase.FAILED, Phase.TIMEOUT, Phase.CANCELLED)
SMALL_STEPS = (0.5, 1.0, 1.0, 2.0, 5.0)
MAX_PODS = 6
MAX_RUNS = 14
SETTLE_SECONDS = 150.0
_PLUGIN_WAITS = frozenset(
    {WaitCode.ADMISSION_REJECTED, WaitCode.FILTERED, WaitCode.RESERVE_REJECTED}
)
DRAIN_STEP = 5.0
DRAIN_ROUNDS = 120
"""Draining lasts 600 virtual seconds: longer than staleness, backoffs and starvation limits."""
"""Quiet time at the end: past every heartbeat, grace period and the 60 s backoff cap."""

DEFAULT_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class SchedulerMachine(RuleBasedStateMachine):
    """Drive a scheduler with the built-ins plus `plugins()`, check it against a reference.

    Override `plugins()` (return fresh instances: the replay builds a second
    scheduler), `config()`, and `check_plan()` for your policy's own invariants.
    """

    namespaces: Sequence[str] = (DEFAULT_NAMESPACE,) * 6 + ("other",)
    """Drawn from uniformly: repeat a name to weight it. Initial Pods use the first."""
    runtimes: Sequence[str] = (RUNTIMES[0],) * 6 + (RUNTIMES[1],)
    allow_invalid_requests = True
    bounded_waiting = True
    """Check at teardown that every placeable Run binds once agents finish Runs (`drain`)."""
    run_queue_names: Sequence[str | None] = (None, None, None, *QUEUE_NAMES, "missing")
    """Queues Runs name, drawn uniformly (None: the namespace's default queue). A queue
    the machine never defines keeps its Runs waiting (`NoQueue`)."""

    def plugins(self) -> Iterable[object]:
        """Plugins under test, registered after the built-ins. Fresh objects on each call."""
        return ()

    def config(self) -> SchedulerConfig:
        return SchedulerConfig()

    def pod_labels(self) -> st.SearchStrategy[dict[str, str]]:
        """Labels of generated Pods (default: a zone label, or none). Override to draw the
        labels your policy reads."""
        return default_pod_labels()

    def run_labels(self) -> st.SearchStrategy[dict[str, str]]:
        """Labels of generated Runs (default: `app`/`tenant` in a/b/c)."""
        return default_run_labels()

    def run_queues(self, namespace: str) -> st.SearchStrategy[RunQueue]:
        """RunQueues the `define_queue` rule creates or changes (override to focus, e.g. on
        cohorts)."""
        return run_queues(namespace=namespace)

    def check_plan(self, plan: Plan) -> None:
        """Extra invariants of your policy, called after each cycle's built-in checks.

        `self.harness` (store, scheduler) and `self.model` show the state the
        plan was decided on; the plan's writes have not been applied yet.
        """

    def __init__(self) -> None:
        super().__init__()
        config = self.config()
        self.harness = Harness(self.plugins, config)
        self.model = ReferenceModel(config, retryable=self.harness.scheduler.policy.is_retryable)
        self._pods = 0
        self._runs = 0
        self._silent: set[PodKey] = set()
        """Pods whose agent stopped heartbeating (until the Pod is replaced)."""

    # ------------------------------------------------------------------ helpers

    @property
    def now(self) -> float:
        return self.harness.now

    def _live_pods(self) -> list[PodKey]:
        return sorted(self.harness.store.pods)

    def _runs_in(self, phases: Iterable[Phase] | None = None) -> list[RunKey]:
        wanted = None if phases is None else set(phases)
        return sorted(
            key
            for key, run in self.harness.store.runs.items()
            if wanted is None or run.status.phase in wanted
        )

    def _agent_alive(self, key: RunKey) -> bool:
        run = self.harness.store.runs[key]
        pod = self.harness.store.pods.get((key[0], run.status.assigned_pod or ""))
        return pod is not None and pod.uid == run.status.assigned_pod_uid

    def _pick(self, data: st.DataObject, keys: list[Any]) -> Any:
        return data.draw(st.sampled_from(keys))

    def _cycle(self, max_binds: int | None = None) -> Plan:
        plan = self.harness.cycle(max_binds=max_binds)
        self.model.observe_pods(self.now)
        self.model.check_plan(plan, self.now, self.harness.scheduler, full=max_binds is None)
        self.check_plan(plan)
        self.model.decided(plan)
        return plan

    def _apply(self, failing: dict[Any, int] | None = None) -> None:
        h = self.harness
        decided_at = {o.decision: o.at for o in h.outstanding}
        for decision, times in (failing or {}).items():
            h.fail_write(decision, unreserve_times=times)
            self.model.conflicted(decision)
        result = h.apply()
        for decision in result.conflicted:
            self.model.conflicted(decision)
        for decision in result.landed:
            self.model.landed(decision, decided_at[decision])
            if isinstance(decision, Requeue):
                self._check_backoff(decision.run)

    def _check_backoff(self, key: RunKey) -> None:
        ref = self.model.runs.get(key)
        if ref is None or ref.not_before <= self.now or ref.run.spec.cancel_requested:
            return  # a cancelled Run does not back off, it ends
        why = self.harness.scheduler.why_waiting(key)
        expected = WaitReason(WaitCode.BACKOFF, "", ref.not_before)
        if why is None or (why.code, why.until) != (expected.code, expected.until):
            raise InvariantViolation(f"{key} backs off until {ref.not_before}, core says {why}")
        wake = self.harness.scheduler.next_wakeup()
        if wake is None or wake > ref.not_before:
            raise InvariantViolation(f"{key} backs off until {ref.not_before}, wake-up {wake}")

    # ------------------------------------------------------------------ pods

    @initialize(data=st.data())
    def initial_pods(self, data: st.DataObject) -> None:
        """Start with a few Pods of the first runtime, in the first namespace, mostly healthy."""
        cluster = data.draw(
            clusters(min_pods=2, max_pods=4, healthy=None, labels=self.pod_labels())
        )
        for drawn in cluster:
            pod = evolve(
                drawn,
                name=f"p{self._pods}",
                uid=f"p{self._pods}-uid",
                runtime=self.runtimes[0],
                namespace=self.namespaces[0],
                heartbeat=self.now if drawn.heartbeat is not None else None,
                deletion_time=self.now if drawn.deleting else None,
            )
            self._pods += 1
            self.harness.add_pods(pod)
            self.model.pod_upserted(pod)

    @precondition(lambda self: len(self.harness.store.pods) < MAX_PODS)
    @rule(data=st.data())
    def add_pod(self, data: st.DataObject) -> None:
        namespace = data.draw(st.sampled_from(list(self.namespaces)))
        name = f"p{self._pods}"
        self._pods += 1
        pod = data.draw(
            pods(
                name,
                namespace=namespace,
                runtimes=self.runtimes,
                now=self.now,
                labels=self.pod_labels(),
            )
        )
        self.harness.add_pods(pod)
        self.model.pod_upserted(pod)

    @rule()
    def heartbeat_all(self) -> None:
        """Every agent that still runs reports in."""
        for key, pod in sorted(self.harness.store.pods.items()):
            if not pod.deleting:
                self.harness.heartbeat(key)
                self.model.pod_heartbeat(key, self.now)

    @precondition(lambda self: self.harness.store.pods)
    @rule(data=st.data(), what=st.sampled_from(POD_TROUBLE))
    def pod_event(self, data: st.DataObject, what: str) -> None:
        """Something happens to one Pod: a heartbeat, readiness, resize, termination, loss."""
        h = self.harness
        key = self._pick(data, self._live_pods())
        pod = h.store.pods[key]
        if what == "heartbeat":
            h.heartbeat(key)
            self.model.pod_heartbeat(key, self.now)
        elif what == "unready":
            self.model.pod_upserted(h.update_pod(key, ready=not pod.ready))
        elif what == "resize":
            self.model.pod_upserted(h.update_pod(key, capacity=data.draw(capacities())))
        elif what in ("terminate", "terminate-untimed") and not pod.deleting:
            timed = what == "terminate"
            pod = h.update_pod(key, deleting=True, deletion_time=self.now if timed else None)
            self.model.pod_upserted(pod)
        elif what == "kill":
            h.kill_pod(key)
            self._silent.discard(key)
            self.model.pod_deleted(key)
        elif what == "replace":
            self._silent.discard(key)
            self.model.pod_upserted(h.replace_pod(key))
        elif what == "silence":
            self._silent.add(key)  # its agent hangs: no more heartbeats

    # ------------------------------------------------------------------ runs

    @precondition(lambda self: len(self.model.runs) < MAX_RUNS)
    @rule(data=st.data(), count=st.integers(1, 3))
    def submit(self, data: st.DataObject, count: int) -> None:
        for _ in range(count):
            namespace = data.draw(st.sampled_from(list(self.namespaces)))
            name = f"r{self._runs}"
            self._runs += 1
            run = data.draw(
                runs(
                    name,
                    namespace=namespace,
                    runtimes=self.runtimes,
                    allow_invalid=self.allow_invalid_requests,
                    labels=self.run_labels(),
                    queues=self.run_queue_names,
                )
            )
            (stored,) = self.harness.submit(run)
            self.model.run_submitted(stored, self.now)

    @precondition(lambda self: self._runs_in(CAPACITY_PHASES))
    @rule(data=st.data(), what=st.sampled_from(AGENT_ACTIONS))
    def agent(self, data: st.DataObject, what: str) -> None:
        """The agent of a live Pod moves one of its Runs: claim, finish, fail, cancel."""
        keys = [k for k in self._runs_in(CAPACITY_PHASES) if self._agent_alive(k)]
        if not keys:
            return
        h = self.harness
        key = self._pick(data, keys)
        run = h.run(key)
        if run.spec.cancel_requested and what == "cancel":
            h.finish(key, Phase.CANCELLED)
            self.model.run_phase(key, Phase.CANCELLED)
        elif run.status.phase is Phase.SCHEDULED:
            h.start(key)
            self.model.run_phase(key, Phase.RUNNING)
        elif what == "fail":
            run = h.fail(key, data.draw(st.sampled_from(RETRY_REASONS)))
            if run.status.phase is Phase.PENDING:
                self.model.retried(key, run.status.attempt, self.now)
            else:
                self.model.run_phase(key, run.status.phase)
        elif what == "finish":
            phase = data.draw(st.sampled_from(END_PHASES))
            h.finish(key, phase)
            self.model.run_phase(key, phase)

    @precondition(lambda self: self.model.runs or self.harness.store.runs)
    @rule(data=st.data(), what=st.sampled_from(CLIENT_ACTIONS))
    def client(self, data: st.DataObject, what: str) -> None:
        """A client cancels, relabels or deletes a Run."""
        h = self.harness
        if what == "delete":
            key = self._pick(data, self._runs_in())
            h.delete_run(key)
            self.model.run_deleted(key)
            return
        if not self.model.runs:
            return
        key = self._pick(data, sorted(self.model.runs))
        if what == "cancel" and not h.run(key).spec.cancel_requested:
            self.model.run_changed(h.cancel(key))
        elif what == "relabel":
            self.model.run_changed(h.update_run(key, labels=data.draw(self.run_labels())))

    @precondition(lambda self: len(self.model.runs) < MAX_RUNS)
    @rule(data=st.data(), complete=st.sampled_from([True, True, True, False]))
    def submit_gang(self, data: st.DataObject, complete: bool) -> None:
        """A gang's Runs arrive together (or one short: it waits, maybe times out)."""
        namespace = self.namespaces[0]
        gang = data.draw(gang_specs(f"g{self._runs}"))
        queue = data.draw(st.sampled_from(list(self.run_queue_names)))
        for _ in range(gang.size if complete else gang.size - 1):
            run = data.draw(
                runs(
                    f"r{self._runs}",
                    namespace=namespace,
                    runtimes=self.runtimes,
                    labels=self.run_labels(),
                )
            )
            self._runs += 1
            run = evolve(run, spec=evolve(run.spec, gang=gang, queue=queue, affinity=None))
            (stored,) = self.harness.submit(run)
            self.model.run_submitted(stored, self.now)

    @rule(data=st.data())
    def define_queue(self, data: st.DataObject) -> None:
        """A RunQueue is created or changed (quota, weight, cohort, strategy)."""
        namespace = data.draw(st.sampled_from(list(self.namespaces)))
        queue = data.draw(self.run_queues(namespace))
        self.model.queue_upserted(self.harness.put_queue(queue))

    @precondition(lambda self: self.harness.queues)
    @rule(data=st.data())
    def delete_queue(self, data: st.DataObject) -> None:
        key = self._pick(data, sorted(self.harness.queues))
        self.harness.delete_queue(key)
        self.model.queue_deleted(key)

    # ------------------------------------------------------------------ time and cycles

    @rule(
        seconds=st.sampled_from(SMALL_STEPS + ADVANCES),
        agents_report=st.sampled_from([True, True, True, False]),
    )
    def advance(self, seconds: float, agents_report: bool) -> None:
        """Time passes; usually every agent that is not silenced heartbeats meanwhile."""
        self.harness.advance(seconds)
        if agents_report:
            for key, pod in sorted(self.harness.store.pods.items()):
                if not pod.deleting and key not in self._silent:
                    self.harness.heartbeat(key)
                    self.model.pod_heartbeat(key, self.now)

    @precondition(lambda self: (self.harness.scheduler.next_wakeup() or 0.0) > self.harness.now)
    @rule()
    def advance_to_wakeup(self) -> None:
        wake = self.harness.scheduler.next_wakeup()
        assert wake is not None
        self.harness.clock.set(wake)

    @precondition(lambda self: not self.harness.outstanding)
    @rule(max_binds=st.sampled_from([None, None, None, None, 1]))
    def cycle(self, max_binds: int | None) -> None:
        self._cycle(max_binds)

    @precondition(lambda self: self.harness.outstanding)
    @rule()
    def cycle_while_writing(self) -> None:
        """A cycle before the last plan's writes have come back (a pipelining engine)."""
        self._cycle()

    @precondition(lambda self: self.harness.outstanding)
    @rule(data=st.data())
    def apply(self, data: st.DataObject) -> None:
        failing: dict[Any, int] = {}
        for item in self.harness.outstanding:
            decision = item.decision
            if isinstance(decision, Wait):
                continue
            if data.draw(
                st.sampled_from([False, False, False, True]), label=f"conflict {decision}"
            ):
                failing[decision] = data.draw(st.sampled_from([1, 2]), label="unreserve calls")
        self._apply(failing)

    @precondition(lambda self: not self.harness.outstanding)
    @rule()
    def step(self) -> None:
        """Cycle and write everything, the common case."""
        self._cycle()
        self._apply()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def scheduler_matches_model(self) -> None:
        self.model.check_scheduler(self.harness.scheduler)
        for key, ref in self.model.runs.items():
            stored = self.harness.store.runs[key]
            if stored.status.phase is not ref.phase:
                raise InvariantViolation(
                    f"{key}: store {stored.status.phase.value}, model {ref.phase.value}"
                )

    def teardown(self) -> None:
        if sys.exc_info()[0] is not None:
            return  # a rule failed: report that, not a consequence of it
        if self.bounded_waiting:
            self.drain()
        self.harness.assert_deterministic()
        self.settle()

    def drain(self) -> None:
        """Bounded waiting: with every agent healthy and finishing each Run it gets, every
        Run that can be placed at all (`ReferenceModel.could_run`) is, in bounded time."""
        h = self.harness
        self._silent.clear()
        waiting: list[RunKey] = []
        for _ in range(DRAIN_ROUNDS):
            self._apply()
            for key, pod in sorted(h.store.pods.items()):
                if not pod.deleting:
                    h.heartbeat(key)
                    self.model.pod_heartbeat(key, self.now)
            self._cycle()
            self._apply()
            for key in self._runs_in(CAPACITY_PHASES):
                if self._agent_alive(key):
                    if h.run(key).status.phase is Phase.SCHEDULED:
                        h.start(key)
                    h.finish(key, Phase.SUCCEEDED)
                    self.model.run_phase(key, Phase.SUCCEEDED)
            waiting = sorted(
                k
                for k, r in self.model.runs.items()
                if self.model.could_run(r, self.now) and not self._plugin_refuses(k)
            )
            if not waiting:
                return
            h.advance(DRAIN_STEP)
        raise InvariantViolation(
            f"bounded waiting: {waiting} could run but did not within "
            f"{DRAIN_ROUNDS * DRAIN_STEP:g}s of draining: "
            + "; ".join(f"{k}: {h.scheduler.why_waiting(k)}" for k in waiting)
            + f"; holding: {sorted(k for k, r in self.model.runs.items() if r.holds)}"
            + "".join(
                f"; {st.queue!r} holds {st.queue.holding}, cohort "
                f"{st.queue.cohort and (st.queue.cohort.usage, st.queue.cohort.quota)}, "
                f"pool starving {h.scheduler._pools[st.pool].starving}, "
                f"queue starving {st.queue.starving}, owed {st.queue.owed}"
                for st in self._states(waiting)
            )
        )

    def _states(self, keys: list[RunKey]) -> list[Any]:
        states = (self.harness.scheduler.run_state(k) for k in keys)
        return [st for st in states if st is not None and st.queue is not None]

    def _plugin_refuses(self, key: RunKey) -> bool:
        """A plugin keeps the Run waiting (admission, filter, reserve): whether it ever
        lets it go is the plugin's call, not the core's."""
        why = self.harness.scheduler.why_waiting(key)
        return why is not None and why.code in _PLUGIN_WAITS

    def settle(self) -> None:
        """No more heartbeats: every Pod goes stale, so every Run must let go of its Pod."""
        self._apply()
        horizon = self.now + SETTLE_SECONDS
        for _ in range(200):
            self._cycle()
            self._apply()
            wake = self.harness.scheduler.next_wakeup()
            if self.now >= horizon:
                break
            self.harness.clock.set(max(self.now, min(wake or horizon, horizon)))
        for _ in range(10):
            plan = self._cycle()
            self._apply()
            if all(isinstance(d, Wait) for d in plan.decisions):
                break
        self.model.check_settled(self.harness.scheduler, self.now)


def machine_test_case(
    plugins: Iterable[object] | None = None,
    config: SchedulerConfig | None = None,
    *,
    base: type[SchedulerMachine] = SchedulerMachine,
    settings_: settings | None = None,
    name: str = "PolicyMachine",
) -> type[Any]:
    """A `unittest.TestCase` running the machine with `plugins` (fresh copies per scheduler)."""
    machine = _machine_class(plugins, config, base=base, name=name)
    case = machine.TestCase
    case.settings = settings_ if settings_ is not None else DEFAULT_SETTINGS
    return case


def run_machine(
    plugins: Iterable[object] | None = None,
    config: SchedulerConfig | None = None,
    *,
    base: type[SchedulerMachine] = SchedulerMachine,
    settings_: settings | None = None,
) -> None:
    """Run the machine once, as a test (raises on the first falsified invariant)."""
    machine = _machine_class(plugins, config, base=base, name="PolicyMachine")
    run_state_machine_as_test(
        machine, settings=settings_ if settings_ is not None else DEFAULT_SETTINGS
    )


def fresh_copy(plugin: object) -> object:
    """A deep copy of a plugin object, so two schedulers never share plugin state.

    Modules (plugins written as plain hook functions) are returned as they are.
    """
    if isinstance(plugin, ModuleType):
        return plugin
    return copy.deepcopy(plugin)


def _machine_class(
    plugins: Iterable[object] | None,
    config: SchedulerConfig | None,
    *,
    base: type[SchedulerMachine],
    name: str,
) -> type[SchedulerMachine]:
    chosen = None if plugins is None else list(plugins)
    namespace: dict[str, Any] = {}
    if chosen is not None:
        namespace["plugins"] = lambda self: [fresh_copy(p) for p in chosen]
    if config is not None:
        namespace["config"] = lambda self: config
    return type(name, (base,), namespace)


__all__ = [
    "DEFAULT_SETTINGS",
    "SETTLE_SECONDS",
    "SchedulerMachine",
    "fresh_copy",
    "machine_test_case",
    "run_machine",
]
