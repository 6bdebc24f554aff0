"""One pluggy PluginManager per scheduler, and the typed facade the core calls.

`create_plugin_manager` registers the built-in plugins, then entry points of
the `kruntimes` group, then the plugins you pass; `disabled` names are
blocked first, so a disabled plugin never registers. `check_pending()` runs
last: a misspelled hook implementation fails here, loudly, not silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pluggy

from kruntimes import hookspecs
from kruntimes.core.admission import QueueState
from kruntimes.core.config import SchedulerConfig
from kruntimes.core.policy import (
    Availability,
    ClusterView,
    PodOrder,
    PreFilterResult,
    ScoreResult,
)
from kruntimes.core.scheduler import Scheduler
from kruntimes.core.state import PodState
from kruntimes.model import Run, RuntimePod
from kruntimes.plugins import BUILTIN_PLUGINS
from kruntimes.registry import RuntimeRegistry

_AVAILABLE = Availability(True)
_BUILTIN_SCORERS = frozenset({"least-loaded", "most-allocated", "affinity"})
DEFAULT_CANDIDATES_TO_SCORE = 8


class PluginError(ValueError):
    """A plugin set that cannot work: unknown names, duplicate orderings, bad hooks."""


def create_plugin_manager(
    plugins: Iterable[object | tuple[str, object]] = (),
    *,
    disabled: Iterable[str] = (),
    load_entry_points: bool = True,
) -> pluggy.PluginManager:
    """Built-ins, then entry points (`kruntimes` group), then `plugins`; minus `disabled`."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = list(disabled)
    for name in blocked:
        pm.set_blocked(name)
    known = set(BUILTIN_PLUGINS)
    for name, plugin in BUILTIN_PLUGINS.items():
        pm.register(plugin, name=name)
    if load_entry_points:
        before = {name for name, _ in pm.list_name_plugin()}
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        known |= {name for name, _ in pm.list_name_plugin()} - before
        known |= set(_entry_point_names())
    for item in plugins:
        name, plugin = item if isinstance(item, tuple) else (None, item)
        registered = pm.register(plugin, name=name)
        known.add(name or (registered or pm.get_canonical_name(plugin)))
    unknown = sorted(set(blocked) - known)
    if unknown:
        raise PluginError(
            f"cannot disable unknown plugin(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
    return pm


def _entry_point_names() -> list[str]:
    from importlib.metadata import entry_points

    return [ep.name for ep in entry_points(group=hookspecs.PROJECT)]


class DirectHook:
    """Calls one hook's implementations directly, exactly as pluggy would, but cheaper.

    pluggy's generic call path (keyword packing, the implementation list copy,
    `_multicall` with its wrapper bookkeeping) costs a few microseconds; the
    core calls some hooks once per decision or per Pod change. When nothing
    pluggy does beyond calling the implementations applies (no wrapper or
    old-style hookwrapper, no keyword parameters with defaults on either side,
    no call monitoring or tracing, a plain `HookCaller`), the same functions
    are called here in the same order: `get_hookimpls()` reversed, so
    tryfirst, then the most recently registered, then trylast. Results are
    the non-None return values in call order, or the first of them for a
    `firstresult` hook, which also stops the calls, as in pluggy.

    The plan is checked against the registered implementations (and the
    manager's hook executor) on every call and rebuilt when they changed;
    otherwise, or when any of the conditions above fails, the call goes
    through `pm.hook` unchanged.
    """

    __slots__ = (
        "_caller",
        "_calls",
        "_exec",
        "_first",
        "_impls",
        "_names",
        "_pm",
        "_single",
        "call",
    )

    def __init__(self, pm: pluggy.PluginManager, name: str, argnames: tuple[str, ...]) -> None:
        self._pm = pm
        self._caller: pluggy.HookCaller = getattr(pm.hook, name)
        self._names = argnames
        self._impls: list[pluggy.HookImpl] = []
        self._exec: object = None
        self._first = False
        self._calls: tuple[tuple[Callable[..., Any], tuple[int, ...] | None], ...] | None = None
        self._single: Callable[..., Any] | None = None
        self.call: Callable[..., Any] = self.__call__
        """The same as calling the hook object; for a single implementation, a closure
        that skips the generic dispatch (the hot path of the core's per-decision hooks)."""
        self._plan()

    @property
    def direct(self) -> bool:
        """Whether calls currently bypass pluggy's call machinery."""
        self._check()
        return self._calls is not None

    def _plan(self) -> None:
        caller = self._caller
        impls = caller.get_hookimpls()
        self._impls = impls
        self._exec = self._pm._inner_hookexec
        self._calls = None
        self._single = None
        self.call = self.__call__
        spec = caller.spec
        if (
            type(caller) is not pluggy.HookCaller
            or type(self._pm)._hookexec is not pluggy.PluginManager._hookexec
            or self._exec is not _DEFAULT_HOOKEXEC
            or spec is None
            or spec.kwargdefaults
            or spec.argnames != self._names
            or caller.is_historic()
        ):
            return
        self._first = bool(spec.opts.get("firstresult", False))
        calls: list[tuple[Callable[..., Any], tuple[int, ...] | None]] = []
        for impl in reversed(impls):
            if impl.wrapper or impl.hookwrapper or impl.kwargnames:
                return
            if impl.argnames == self._names:
                calls.append((impl.function, None))
            elif all(name in self._names for name in impl.argnames):
                calls.append((impl.function, tuple(self._names.index(n) for n in impl.argnames)))
            else:
                return  # pluggy raises HookCallError: let it
        self._calls = tuple(calls)
        if len(calls) == 1 and calls[0][1] is None:
            self._single = calls[0][0]
            if not self._first:
                self.call = self._single_call(caller, impls, self._pm, self._exec, self._single)

    def _single_call(
        self,
        caller: pluggy.HookCaller,
        snapshot: list[pluggy.HookImpl],
        pm: pluggy.PluginManager,
        hookexec: object,
        function: Callable[..., Any],
    ) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            if caller._hookimpls != snapshot or pm._inner_hookexec is not hookexec:
                self._plan()
                return self.call(*args)
            res = function(*args)
            return [] if res is None else [res]

        return call

    def _check(self) -> None:
        # `_hookimpls` is the list pluggy registers into; comparing it (identity per item)
        # avoids the copy `get_hookimpls()` makes, on every call.
        if self._caller._hookimpls != self._impls or self._pm._inner_hookexec is not self._exec:
            self._plan()

    def __call__(self, *args: Any) -> Any:
        """Call the hook with its arguments in hookspec order."""
        if self._caller._hookimpls != self._impls or self._pm._inner_hookexec is not self._exec:
            self._plan()
        single = self._single
        if single is not None:  # one implementation taking every argument: the usual case
            res = single(*args)
            if self._first:
                return res
            return [] if res is None else [res]
        calls = self._calls
        if calls is None:
            return self._caller(**dict(zip(self._names, args, strict=True)))
        if self._first:
            for function, index in calls:
                res = function(*args) if index is None else function(*[args[i] for i in index])
                if res is not None:
                    return res
            return None
        results = []
        for function, index in calls:
            res = function(*args) if index is None else function(*[args[i] for i in index])
            if res is not None:
                results.append(res)
        return results


_DEFAULT_HOOKEXEC = pluggy.PluginManager("kruntimes-probe")._inner_hookexec


class PluggyPolicy:
    """The core's `Policy`, calling hooks with typed results.

    Hooks the core calls per decision or per Pod change go through `DirectHook`
    (pluggy's semantics without its per-call overhead); the rest through `pm.hook`.
    """

    def __init__(self, pm: pluggy.PluginManager, config: SchedulerConfig) -> None:
        self.pm = pm
        self.config = config
        hook = pm.hook
        self._hook = hook
        orders: dict[str, PodOrder] = {}
        for offered in hook.kruntimes_pod_orders():
            for name, order in offered.items():
                if name in orders:
                    raise PluginError(f"two plugins offer a Pod ordering named {name!r}")
                orders[name] = order
        if config.ordering not in orders:
            raise PluginError(
                f"unknown ordering {config.ordering!r}; "
                f"available: {', '.join(sorted(orders)) or 'none'}"
            )
        self.pod_order: PodOrder = orders[config.ordering]
        self.orderings = tuple(sorted(orders))
        self.has_filters = bool(hook.kruntimes_filter.get_hookimpls())
        self._has_prefilters = bool(hook.kruntimes_prefilter.get_hookimpls())
        self._has_reserve = bool(hook.kruntimes_reserve.get_hookimpls())
        self._has_unreserve = bool(hook.kruntimes_unreserve.get_hookimpls())
        scorers = {impl.plugin_name for impl in hook.kruntimes_score.get_hookimpls()}
        if config.candidates_to_score is not None:
            if config.candidates_to_score < 1:
                raise PluginError("candidates_to_score must be at least 1")
            self.candidates_to_score = config.candidates_to_score
        else:
            only_builtin = scorers <= _BUILTIN_SCORERS and not config.score_weights
            self.candidates_to_score = 1 if only_builtin else DEFAULT_CANDIDATES_TO_SCORE
        self._availability = DirectHook(pm, "kruntimes_pod_availability", ("pod", "now", "config"))
        self._prefilter = DirectHook(pm, "kruntimes_prefilter", ("run", "cluster"))
        self._filter = DirectHook(pm, "kruntimes_filter", ("run", "pods", "cluster"))
        self._score = DirectHook(pm, "kruntimes_score", ("run", "pods", "cluster", "config"))
        self._normalize = DirectHook(pm, "kruntimes_normalize_score", ("run", "pods", "result"))
        self._reserve = DirectHook(pm, "kruntimes_reserve", ("run", "pod", "cluster"))
        self._unreserve = DirectHook(pm, "kruntimes_unreserve", ("run", "pod", "cluster"))
        self._is_retryable = DirectHook(pm, "kruntimes_is_retryable", ("run", "reason"))
        self._run_priority = DirectHook(pm, "kruntimes_run_priority", ("run",))
        self.has_admission = bool(hook.kruntimes_admit.get_hookimpls())
        self.has_queue_share = bool(hook.kruntimes_queue_share.get_hookimpls())
        self._admit = DirectHook(pm, "kruntimes_admit", ("run", "queue", "cluster"))
        self._queue_share = DirectHook(pm, "kruntimes_queue_share", ("queue", "capacity", "usage"))

    def pod_availability(self, pod: RuntimePod, now: float) -> Availability:
        verdicts: list[Availability] = self._availability.call(pod, now, self.config)
        if not verdicts:
            return _AVAILABLE
        if len(verdicts) == 1:
            only = verdicts[0]
            if not only.available or not only.reason:
                return only  # equal to what the merge below builds
        recheck = min((v.recheck_at for v in verdicts if v.recheck_at is not None), default=None)
        for verdict in verdicts:
            if not verdict.available:
                return Availability(False, verdict.reason, recheck)
        return Availability(True, "", recheck)

    def prefilter(self, run: Run, cluster: ClusterView) -> Sequence[PreFilterResult]:
        if not self._has_prefilters:
            return ()
        results: list[PreFilterResult] = self._prefilter.call(run, cluster)
        return results

    def filter(self, run: Run, pods: Sequence[PodState], cluster: ClusterView) -> Mapping[str, str]:
        rejected: dict[str, str] = {}
        for result in self._filter(run, pods, cluster):
            for name, reason in result.items():
                rejected.setdefault(name, reason)
        return rejected

    def score(self, run: Run, pods: Sequence[PodState], cluster: ClusterView) -> list[float]:
        totals = [0.0] * len(pods)
        results: list[ScoreResult] = self._score(run, pods, cluster, self.config)
        for result in results:
            if len(result.scores) != len(pods):
                raise PluginError(
                    f"score {result.name!r} returned {len(result.scores)} scores "
                    f"for {len(pods)} Pods"
                )
            scores = result.scores
            if not result.normalized:
                custom = self._normalize(run, pods, result)
                scores = tuple(custom) if custom is not None else normalize_min_max(scores)
            weight = self.config.score_weights.get(result.name, 1)
            for i, value in enumerate(scores):
                totals[i] += weight * value
        return totals

    def reserve(self, run: Run, pod: PodState, cluster: ClusterView) -> str | None:
        if not self._has_reserve:
            return None
        refusals: list[str] = self._reserve(run, pod, cluster)
        return refusals[0] if refusals else None

    def unreserve(self, run: Run, pod: str, cluster: ClusterView) -> None:
        if self._has_unreserve:
            self._unreserve(run, pod, cluster)

    def is_retryable(self, run: Run, reason: str) -> bool | None:
        result: bool | None = self._is_retryable(run, reason)
        return result

    def run_priority(self, run: Run) -> int | None:
        result: int | None = self._run_priority(run)
        if result is not None:
            return result
        name = run.spec.priority_class_name
        if name is None:
            return run.spec.priority
        return self.config.priority_classes.get(name)

    def admit(self, run: Run, queue: QueueState, cluster: ClusterView) -> str | None:
        if not self.has_admission:
            return None
        refusals: list[str] = self._admit(run, queue, cluster)
        return refusals[0] if refusals else None

    def queue_share(
        self, queue: QueueState, capacity: Mapping[str, int], usage: Mapping[str, int]
    ) -> float | None:
        if not self.has_queue_share:
            return None
        result: float | None = self._queue_share(queue, capacity, usage)
        return result

    def classify_failure(self, run: Run, exit_code: int | None, message: str, reason: str) -> str:
        result: str | None = self._hook.kruntimes_classify_failure(
            run=run, exit_code=exit_code, message=message, reason=reason
        )
        return reason if result is None else result

    def runtime_registry(self) -> RuntimeRegistry:
        registry = RuntimeRegistry()
        self._hook.kruntimes_register_runtimes(registry=registry)
        return registry


def normalize_min_max(scores: Sequence[float]) -> tuple[float, ...]:
    """Scale onto 0..100: lowest -> 0, highest -> 100; all equal -> all 0."""
    low, high = min(scores), max(scores)
    if high == low:
        return tuple(0.0 for _ in scores)
    span = high - low
    return tuple(100.0 * (s - low) / span for s in scores)


def new_scheduler(
    config: SchedulerConfig | None = None,
    plugins: Iterable[object | tuple[str, object]] = (),
    *,
    load_entry_points: bool = True,
    **pm_options: Any,
) -> Scheduler:
    """A `Scheduler` with the built-in plugins, installed plugins and `plugins`."""
    config = config if config is not None else SchedulerConfig()
    policy = new_policy(config, plugins, load_entry_points=load_entry_points, **pm_options)
    return Scheduler(policy, config)


def new_policy(
    config: SchedulerConfig,
    plugins: Iterable[object | tuple[str, object]] = (),
    *,
    load_entry_points: bool = True,
    **pm_options: Any,
) -> PluggyPolicy:
    """The policy of `config` over the built-in, installed and given plugins: one per engine
    or controller, shared by the fresh `Scheduler`s it makes after each re-list."""
    pm = create_plugin_manager(
        plugins, disabled=config.disabled_plugins, load_entry_points=load_entry_points, **pm_options
    )
    return PluggyPolicy(pm, config)
