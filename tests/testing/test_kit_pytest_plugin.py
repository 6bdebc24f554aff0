"""The pytest11 plugin's fixtures, and that loading it needs neither hypothesis nor kruntimes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from kruntimes.core import Scheduler, SchedulerConfig
from kruntimes.model import Phase
from kruntimes.testing import EPOCH, Harness, VirtualClock


def test_krt_clock_is_virtual(krt_clock: VirtualClock) -> None:
    assert krt_clock.now == EPOCH
    assert krt_clock.advance(2.5) == EPOCH + 2.5


def test_krt_harness_uses_the_clock(krt_harness: Harness, krt_clock: VirtualClock) -> None:
    krt_harness.add_pod("p1")
    krt_harness.submit("r1")
    krt_clock.advance(1)
    plan = krt_harness.step()
    assert krt_harness.plans == [plan]
    assert krt_harness.phase("r1") is Phase.SCHEDULED
    assert krt_harness.now == EPOCH + 1


def test_krt_scheduler_factory(krt_scheduler_factory: Callable[..., Scheduler]) -> None:
    scheduler = krt_scheduler_factory(config=SchedulerConfig(ordering="most-allocated"))
    assert isinstance(scheduler, Scheduler)
    assert scheduler.config.ordering == "most-allocated"


def test_krt_harness_factory(krt_harness_factory: Callable[..., Harness]) -> None:
    h = krt_harness_factory(runtime="python", namespace="team")
    assert h.add_pod("p1").key == ("team", "p1")


def test_loading_the_plugin_needs_no_hypothesis() -> None:
    code = (
        "import sys\n"
        "sys.modules['hypothesis'] = None\n"  # as if it were not installed
        "import kruntimes.testing.pytest_plugin as p\n"
        "assert callable(p.krt_harness)\n"
        "import kruntimes.testing as kit\n"
        "h = kit.Harness()\n"  # builders and the harness work without hypothesis
        "h.add_pod('p1')\n"
        "h.submit('r1')\n"
        "assert h.step().binds\n"
        "try:\n"
        "    kit.PlacementPolicyContract\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('the contract suite should need hypothesis')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
