"""pytest fixtures of the testing kit, auto-loaded through the `pytest11` entry point.

Kept light on purpose: it never imports hypothesis (the strategies, the state
machine and the contract suite load on first use), so it cannot break test
collection in a project that lacks the testing extras; fixtures import what
they need when they run.

Fixtures: `krt_clock` (a `VirtualClock` at a fixed epoch), `krt_scheduler_factory`
(build schedulers with the built-ins plus your plugins), `krt_harness` (a
`Harness` with the built-in plugins on that clock), `krt_harness_factory`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kruntimes.core import Scheduler, SchedulerConfig
    from kruntimes.testing.clock import VirtualClock
    from kruntimes.testing.harness import Harness


@pytest.fixture
def krt_clock() -> VirtualClock:
    """Virtual time at `kruntimes.testing.EPOCH`; move it with `.advance(seconds)`."""
    from kruntimes.testing.builders import EPOCH
    from kruntimes.testing.clock import VirtualClock

    return VirtualClock(EPOCH)


@pytest.fixture
def krt_scheduler_factory() -> Callable[..., Scheduler]:
    """`factory(plugins=(), config=None, load_entry_points=False) -> Scheduler`."""
    from kruntimes.plugin_manager import new_scheduler

    def factory(
        plugins: Any = (),
        config: SchedulerConfig | None = None,
        *,
        load_entry_points: bool = False,
    ) -> Scheduler:
        return new_scheduler(config, plugins=list(plugins), load_entry_points=load_entry_points)

    return factory


@pytest.fixture
def krt_harness_factory(krt_clock: VirtualClock) -> Callable[..., Harness]:
    """`factory(plugins=(), config=None, **harness_options) -> Harness`, sharing `krt_clock`."""
    from kruntimes.testing.harness import Harness

    def factory(plugins: Any = (), config: SchedulerConfig | None = None, **kw: Any) -> Harness:
        kw.setdefault("clock", krt_clock)
        return Harness(plugins, config, **kw)

    return factory


@pytest.fixture
def krt_harness(krt_harness_factory: Callable[..., Harness]) -> Harness:
    """A `Harness` with only the built-in plugins, on `krt_clock`."""
    return krt_harness_factory()


@pytest.fixture(scope="session")
def krt_kube_env() -> Any:
    """A real etcd + kube-apiserver with kruntimes' CRDs installed, shared by the session.

    Binaries: see `kruntimes.testing.kube_env` (KUBEBUILDER_ASSETS, the test
    cache, PATH). Take a fresh namespace per test with `env.new_namespace()`.
    The watch cache is off, as in the testenv note: watches are then served by
    etcd, so a compaction gives a deterministic 410 and a restarted apiserver
    resumes watches from any version etcd still has.
    """
    from kruntimes.adapters.kubernetes.crds import crd_manifests
    from kruntimes.testing.kube_env import KubeTestEnv

    env = KubeTestEnv.start(extra_apiserver_flags=("--watch-cache=false",))
    try:
        env.install_crds(crd_manifests())
        yield env
    finally:
        env.stop()
