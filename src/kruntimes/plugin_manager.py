"""One pluggy PluginManager per scheduler, and the typed facade the core calls.

`create_plugin_manager` registers the built-in plugins, then entry points of
the `kruntimes` group, then the plugins you pass; `disabled` names are
blocked first, so a disabled plugin never registers. `check_pending()` runs
last: a misspelled hook implementation fails here, loudly, not silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pluggy

from kruntimes import hookspecs
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


class PluggyPolicy:
    """The core's `Policy`, calling hooks through `pm.hook` with typed results."""

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

    def pod_availability(self, pod: RuntimePod, now: float) -> Availability:
        verdicts: list[Availability] = self._hook.kruntimes_pod_availability(
            pod=pod, now=now, config=self.config
        )
        if not verdicts:
            return _AVAILABLE
        recheck = min((v.recheck_at for v in verdicts if v.recheck_at is not None), default=None)
        for verdict in verdicts:
            if not verdict.available:
                return Availability(False, verdict.reason, recheck)
        return Availability(True, "", recheck)

    def prefilter(self, run: Run, cluster: ClusterView) -> Sequence[PreFilterResult]:
        if not self._has_prefilters:
            return ()
        results: list[PreFilterResult] = self._hook.kruntimes_prefilter(run=run, cluster=cluster)
        return results

    def filter(self, run: Run, pods: Sequence[PodState], cluster: ClusterView) -> Mapping[str, str]:
        rejected: dict[str, str] = {}
        for result in self._hook.kruntimes_filter(run=run, pods=pods, cluster=cluster):
            for name, reason in result.items():
                rejected.setdefault(name, reason)
        return rejected

    def score(self, run: Run, pods: Sequence[PodState], cluster: ClusterView) -> list[float]:
        totals = [0.0] * len(pods)
        results: list[ScoreResult] = self._hook.kruntimes_score(
            run=run, pods=pods, cluster=cluster, config=self.config
        )
        for result in results:
            if len(result.scores) != len(pods):
                raise PluginError(
                    f"score {result.name!r} returned {len(result.scores)} scores "
                    f"for {len(pods)} Pods"
                )
            scores = result.scores
            if not result.normalized:
                custom = self._hook.kruntimes_normalize_score(run=run, pods=pods, result=result)
                scores = tuple(custom) if custom is not None else normalize_min_max(scores)
            weight = self.config.score_weights.get(result.name, 1)
            for i, value in enumerate(scores):
                totals[i] += weight * value
        return totals

    def reserve(self, run: Run, pod: PodState, cluster: ClusterView) -> str | None:
        if not self._has_reserve:
            return None
        refusals: list[str] = self._hook.kruntimes_reserve(run=run, pod=pod, cluster=cluster)
        return refusals[0] if refusals else None

    def unreserve(self, run: Run, pod: str, cluster: ClusterView) -> None:
        if self._has_unreserve:
            self._hook.kruntimes_unreserve(run=run, pod=pod, cluster=cluster)

    def is_retryable(self, run: Run, reason: str) -> bool | None:
        result: bool | None = self._hook.kruntimes_is_retryable(run=run, reason=reason)
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
    pm = create_plugin_manager(
        plugins, disabled=config.disabled_plugins, load_entry_points=load_entry_points, **pm_options
    )
    return Scheduler(PluggyPolicy(pm, config), config)
