import pytest

from kruntimes import PluginError, SchedulerConfig, create_plugin_manager, hookimpl, new_scheduler
from kruntimes.plugin_manager import PluggyPolicy, normalize_min_max
from kruntimes.registry import DuplicateRuntime, RuntimeKind, RuntimeRegistry


def test_builtins_are_registered_by_name() -> None:
    pm = create_plugin_manager(load_entry_points=False)
    names = {name for name, _ in pm.list_name_plugin()}
    assert {"availability", "affinity", "least-loaded", "most-allocated"} <= names


def test_a_builtin_can_be_disabled_by_name() -> None:
    pm = create_plugin_manager(disabled=["affinity"], load_entry_points=False)
    assert not pm.has_plugin("affinity")
    assert pm.is_blocked("affinity")


def test_disabling_an_unknown_plugin_is_an_error_listing_known_names() -> None:
    with pytest.raises(PluginError, match=r"unknown plugin\(s\) afinity; known: .*affinity"):
        create_plugin_manager(disabled=["afinity"], load_entry_points=False)


class Misspelled:
    @hookimpl
    def kruntimes_fitler(self, run):  # type: ignore[no-untyped-def]
        return None


def test_a_misspelled_hook_fails_at_load() -> None:
    with pytest.raises(PluginError, match="kruntimes_fitler"):
        create_plugin_manager([Misspelled()], load_entry_points=False)


def test_unknown_ordering_names_the_available_ones() -> None:
    with pytest.raises(PluginError, match="available: least-loaded, most-allocated"):
        new_scheduler(SchedulerConfig(ordering="random"), load_entry_points=False)


class Zone:
    @hookimpl
    def kruntimes_score(self, pods):  # type: ignore[no-untyped-def]
        return None


def test_candidates_to_score_is_one_with_builtins_and_more_with_a_custom_scorer() -> None:
    config = SchedulerConfig()
    assert (
        PluggyPolicy(create_plugin_manager(load_entry_points=False), config).candidates_to_score
        == 1
    )
    pm = create_plugin_manager([Zone()], load_entry_points=False)
    assert PluggyPolicy(pm, config).candidates_to_score == 8
    pinned = SchedulerConfig(candidates_to_score=3)
    assert PluggyPolicy(pm, pinned).candidates_to_score == 3
    with pytest.raises(PluginError, match="at least 1"):
        PluggyPolicy(pm, SchedulerConfig(candidates_to_score=0))


def test_normalize_min_max() -> None:
    assert normalize_min_max([1, 3, 2]) == (0.0, 100.0, 50.0)
    assert normalize_min_max([5, 5]) == (0.0, 0.0)


class Runtimes:
    @hookimpl
    def kruntimes_register_runtimes(self, registry: RuntimeRegistry) -> None:
        registry.add(RuntimeKind("deno", ("deno", "run", "server.ts", "{socket}"), "Deno scripts"))


def test_runtime_registration_hook() -> None:
    pm = create_plugin_manager([Runtimes()], load_entry_points=False)
    registry = PluggyPolicy(pm, SchedulerConfig()).runtime_registry()
    assert registry.get("deno").command[0] == "deno"
    assert "deno" in registry


def test_registry_rejects_bad_and_duplicate_kinds() -> None:
    registry = RuntimeRegistry()
    registry.add(RuntimeKind("bash", ("kruntimes-bash", "{socket}")))
    with pytest.raises(DuplicateRuntime):
        registry.add(RuntimeKind("bash", ("x",)))
    with pytest.raises(ValueError, match="lowercase"):
        registry.add(RuntimeKind("Bad_Name", ("x",)))
    with pytest.raises(ValueError, match="protocol"):
        registry.add(RuntimeKind("grpcy", ("x",), protocol="soap"))
    with pytest.raises(KeyError, match="registered: bash"):
        registry.get("ruby")


class Retryable:
    @hookimpl
    def kruntimes_is_retryable(self, reason):  # type: ignore[no-untyped-def]
        return reason == "PodGone"

    @hookimpl
    def kruntimes_classify_failure(self, exit_code):  # type: ignore[no-untyped-def]
        return "OutOfMemory" if exit_code == 137 else None


def test_retry_and_failure_classification_hooks() -> None:
    from kruntimes.model import ObjectMeta, Run, RunSpec

    policy = PluggyPolicy(
        create_plugin_manager([Retryable()], load_entry_points=False), SchedulerConfig()
    )
    run = Run(ObjectMeta(name="r"), RunSpec(runtime="bash"))
    assert policy.is_retryable(run, "PodGone") is True
    assert policy.is_retryable(run, "Timeout") is False
    assert policy.classify_failure(run, 137, "killed", "RuntimeError") == "OutOfMemory"
    assert policy.classify_failure(run, 1, "boom", "RuntimeError") == "RuntimeError"
