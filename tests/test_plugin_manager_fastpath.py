"""`DirectHook` calls hook implementations exactly as pluggy would, or lets pluggy do it.

Every test compares the direct call with `pm.hook.<name>(...)` on the same manager:
same results, same implementations called, in the same order.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pluggy
import pytest

from kruntimes import SchedulerConfig, create_plugin_manager, hookimpl
from kruntimes.core import Availability, PreFilterResult, WaitReason
from kruntimes.model import ObjectMeta, Run, RunSpec, RuntimePod, WaitCode
from kruntimes.plugin_manager import DirectHook, PluggyPolicy

RUN = Run(ObjectMeta(name="r"), RunSpec(runtime="bash"))
POD = RuntimePod(name="p", runtime="bash", heartbeat=100.0)
CONFIG = SchedulerConfig()


class Cluster:
    """Enough of a `ClusterView` for the built-in affinity plugin on a Run without affinity."""

    def anti_affinity_holders(self, namespace: str) -> tuple[()]:
        return ()


CLUSTER = Cluster()


class Recorder:
    """Plugins append their name to one shared call log."""

    def __init__(self) -> None:
        self.calls: list[str] = []


def _prefilter_plugin(
    log: Recorder, name: str, *, tryfirst: bool = False, trylast: bool = False
) -> object:
    class Plugin:
        @hookimpl(tryfirst=tryfirst, trylast=trylast)
        def kruntimes_prefilter(self, run: Run, cluster: object) -> PreFilterResult | None:
            log.calls.append(name)
            if name.endswith("-none"):
                return None
            return PreFilterResult(excluded=frozenset({name}))

    return Plugin()


def _retryable_plugin(
    log: Recorder, name: str, answer: bool | None, *, tryfirst: bool = False, trylast: bool = False
) -> object:
    class Plugin:
        @hookimpl(tryfirst=tryfirst, trylast=trylast)
        def kruntimes_is_retryable(self, reason: str) -> bool | None:  # a subset of the args
            log.calls.append(name)
            return answer

    return Plugin()


def _both(pm: pluggy.PluginManager, log: Recorder, name: str, names: tuple[str, ...], *args: Any):  # type: ignore[no-untyped-def]
    """(direct result, its call log), (pluggy result, its call log)."""
    hook = DirectHook(pm, name, names)
    log.calls.clear()
    direct = hook(*args)
    direct_calls = list(log.calls)
    log.calls.clear()
    via_pluggy = getattr(pm.hook, name)(**dict(zip(names, args, strict=True)))
    return hook, (direct, direct_calls), (via_pluggy, list(log.calls))


def test_call_order_is_pluggys_lifo_with_tryfirst_and_trylast() -> None:
    log = Recorder()
    plugins = [
        _prefilter_plugin(log, "a"),
        _prefilter_plugin(log, "last", trylast=True),
        _prefilter_plugin(log, "b-none"),
        _prefilter_plugin(log, "first", tryfirst=True),
        _prefilter_plugin(log, "c"),
        _prefilter_plugin(log, "last2", trylast=True),
        _prefilter_plugin(log, "first2", tryfirst=True),
    ]
    pm = create_plugin_manager(plugins, load_entry_points=False)
    hook, direct, via_pluggy = _both(
        pm, log, "kruntimes_prefilter", ("run", "cluster"), RUN, CLUSTER
    )
    assert hook.direct
    assert direct == via_pluggy
    assert direct[1] == ["first2", "first", "c", "b-none", "a", "last", "last2"]
    assert len(direct[0]) == 6  # None results (and the affinity plugin's) are dropped


@pytest.mark.parametrize(
    "answers",
    [
        (None, None, None),
        (True, None, False),
        (None, False, True),
        (None, None, True),
    ],
)
def test_firstresult_returns_the_first_non_none_and_stops(
    answers: tuple[bool | None, bool | None, bool | None],
) -> None:
    log = Recorder()
    plugins = [
        _retryable_plugin(log, "trylast", answers[0], trylast=True),
        _retryable_plugin(log, "plain", answers[1]),
        _retryable_plugin(log, "tryfirst", answers[2], tryfirst=True),
    ]
    pm = create_plugin_manager(plugins, load_entry_points=False)
    hook, direct, via_pluggy = _both(
        pm, log, "kruntimes_is_retryable", ("run", "reason"), RUN, "PodGone"
    )
    assert hook.direct
    assert direct == via_pluggy


def test_no_implementation_gives_an_empty_list_or_none() -> None:
    pm = create_plugin_manager(load_entry_points=False)
    cases: list[tuple[str, tuple[str, ...], tuple[object, ...]]] = [
        ("kruntimes_filter", ("run", "pods", "cluster"), (RUN, [], None)),
        ("kruntimes_is_retryable", ("run", "reason"), (RUN, "x")),
    ]
    for name, names, args in cases:
        hook = DirectHook(pm, name, names)
        assert hook.direct
        assert hook(*args) == getattr(pm.hook, name)(**dict(zip(names, args, strict=True)))


class Wrapper:
    def __init__(self) -> None:
        self.wrapped = 0

    @hookimpl(wrapper=True)
    def kruntimes_prefilter(self) -> Generator[None, list[PreFilterResult], list[PreFilterResult]]:
        results = yield
        self.wrapped += 1
        return [*results, PreFilterResult(reject=WaitReason(WaitCode.FILTERED, "wrapped"))]


class OldStyleWrapper:
    @hookimpl(hookwrapper=True)
    def kruntimes_prefilter(self) -> Generator[None, Any, None]:
        outcome = yield
        outcome.force_result([])


def test_wrappers_make_it_fall_back_to_pluggy() -> None:
    log = Recorder()
    wrapper = Wrapper()
    pm = create_plugin_manager([_prefilter_plugin(log, "a"), wrapper], load_entry_points=False)
    hook, direct, via_pluggy = _both(
        pm, log, "kruntimes_prefilter", ("run", "cluster"), RUN, CLUSTER
    )
    assert not hook.direct
    assert direct == via_pluggy
    assert direct[0][-1].reject is not None
    assert wrapper.wrapped == 2

    pm = create_plugin_manager([OldStyleWrapper()], load_entry_points=False)
    hook = DirectHook(pm, "kruntimes_prefilter", ("run", "cluster"))
    assert not hook.direct
    assert hook(RUN, CLUSTER) == []


class WithDefault:
    @hookimpl
    def kruntimes_is_retryable(self, run: Run, reason: str = "x") -> bool | None:
        return reason == "PodGone"


def test_implementations_with_defaults_fall_back() -> None:
    pm = create_plugin_manager([WithDefault()], load_entry_points=False)
    hook = DirectHook(pm, "kruntimes_is_retryable", ("run", "reason"))
    assert not hook.direct
    assert hook(RUN, "PodGone") is True
    assert hook(RUN, "Other") is False


def test_registering_and_unregistering_later_is_seen() -> None:
    log = Recorder()
    pm = create_plugin_manager([_prefilter_plugin(log, "a")], load_entry_points=False)
    hook = DirectHook(pm, "kruntimes_prefilter", ("run", "cluster"))
    assert [r.excluded for r in hook(RUN, CLUSTER)] == [frozenset({"a"})]
    late = _prefilter_plugin(log, "late", tryfirst=True)
    pm.register(late)
    assert [r.excluded for r in hook(RUN, CLUSTER)] == [frozenset({"late"}), frozenset({"a"})]
    pm.unregister(late)
    assert [r.excluded for r in hook(RUN, CLUSTER)] == [frozenset({"a"})]
    wrapper = Wrapper()
    pm.register(wrapper)
    assert not hook.direct
    assert hook(RUN, CLUSTER)[-1].reject is not None
    pm.unregister(wrapper)
    assert hook.direct


def test_call_monitoring_and_tracing_fall_back_and_see_the_calls() -> None:
    log = Recorder()
    pm = create_plugin_manager([_prefilter_plugin(log, "a")], load_entry_points=False)
    hook = DirectHook(pm, "kruntimes_prefilter", ("run", "cluster"))
    seen: list[str] = []
    undo = pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append(name), lambda *args: None
    )
    assert [r.excluded for r in hook(RUN, CLUSTER)] == [frozenset({"a"})]
    assert seen == ["kruntimes_prefilter"]
    assert not hook.direct
    undo()
    assert hook.direct
    hook(RUN, CLUSTER)
    assert seen == ["kruntimes_prefilter"]


class Boom:
    @hookimpl
    def kruntimes_prefilter(self, run: Run) -> None:
        raise RuntimeError("boom")


def test_exceptions_propagate_unchanged() -> None:
    pm = create_plugin_manager([Boom()], load_entry_points=False)
    hook = DirectHook(pm, "kruntimes_prefilter", ("run", "cluster"))
    assert hook.direct
    with pytest.raises(RuntimeError, match="boom"):
        hook(RUN, CLUSTER)
    with pytest.raises(RuntimeError, match="boom"):
        pm.hook.kruntimes_prefilter(run=RUN, cluster=CLUSTER)


def test_builtin_hooks_of_the_policy_are_direct() -> None:
    policy = PluggyPolicy(create_plugin_manager(load_entry_points=False), CONFIG)
    assert policy._availability.direct
    assert policy._prefilter.direct
    assert policy._is_retryable.direct


class Verdicts:
    def __init__(self, *verdicts: Availability | None) -> None:
        self.verdicts = verdicts

    @hookimpl(tryfirst=True)
    def kruntimes_pod_availability(self, now: float) -> Availability | None:
        return self.verdicts[int(now) % len(self.verdicts)]


@pytest.mark.parametrize(
    "extra",
    [
        [],
        [Verdicts(None)],
        [Verdicts(Availability(True, "reason dropped", recheck_at=5.0))],
        [Verdicts(Availability(False, "no", recheck_at=200.0))],
        [Verdicts(Availability(False, "no")), Verdicts(Availability(True, recheck_at=1.0))],
    ],
)
def test_pod_availability_matches_the_merge_over_pluggy_results(extra: list[object]) -> None:
    pm = create_plugin_manager(extra, load_entry_points=False)
    policy = PluggyPolicy(pm, CONFIG)
    for now in (100.0, 110.0, 120.0):
        verdicts = pm.hook.kruntimes_pod_availability(pod=POD, now=now, config=CONFIG)
        recheck = min((v.recheck_at for v in verdicts if v.recheck_at is not None), default=None)
        unavailable = [v for v in verdicts if not v.available]
        expected = (
            Availability(True)
            if not verdicts
            else Availability(False, unavailable[0].reason, recheck)
            if unavailable
            else Availability(True, "", recheck)
        )
        assert policy.pod_availability(POD, now) == expected


def test_the_single_implementation_closure_follows_registrations_and_monitoring() -> None:
    log = Recorder()
    pm = create_plugin_manager([_prefilter_plugin(log, "a")], load_entry_points=False)
    pm.unregister(name="affinity")
    hook = DirectHook(pm, "kruntimes_prefilter", ("run", "cluster"))
    assert hook.call != hook.__call__  # the specialised closure
    assert [r.excluded for r in hook.call(RUN, CLUSTER)] == [frozenset({"a"})]
    late = _prefilter_plugin(log, "late-none", tryfirst=True)
    pm.register(late)
    log.calls.clear()
    assert [r.excluded for r in hook.call(RUN, CLUSTER)] == [frozenset({"a"})]
    assert log.calls == ["late-none", "a"]
    pm.unregister(late)
    seen: list[str] = []
    undo = pm.add_hookcall_monitoring(lambda name, *_: seen.append(name), lambda *_: None)
    assert [r.excluded for r in hook.call(RUN, CLUSTER)] == [frozenset({"a"})]
    assert seen == ["kruntimes_prefilter"]
    undo()
    wrapper = Wrapper()
    pm.register(wrapper)
    assert hook.call(RUN, CLUSTER)[-1].reject is not None
    assert wrapper.wrapped == 1
    pm.unregister(wrapper)
    assert [r.excluded for r in hook.call(RUN, CLUSTER)] == [frozenset({"a"})]
    assert hook.call != hook.__call__
