"""The state machine focused on admission: every Run in one of two queues of one cohort."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from kruntimes.model import RunQueue
from kruntimes.testing.builders import make_queue
from kruntimes.testing.stateful import DEFAULT_SETTINGS, SchedulerMachine


class CohortMachine(SchedulerMachine):
    """Two small-quota queues lending to each other: borrowing, giving back, strict FIFO."""

    run_queue_names = ("a", "b")

    def run_queues(self, namespace: str) -> st.SearchStrategy[RunQueue]:
        return st.builds(
            make_queue,
            st.sampled_from(["a", "b"]),
            namespace=st.just(namespace),
            quota=st.sampled_from([{"runs": 1}, {"runs": 2}, {"runs": 1, "cpu": 2}]),
            weight=st.sampled_from([1.0, 2.0]),
            cohort=st.just("shared"),
            borrowing_limit=st.sampled_from([None, {"runs": 1}]),
            strict=st.booleans(),
            starvation_limit_seconds=st.sampled_from([5.0, 30.0]),
        )


TestCohorts = CohortMachine.TestCase
TestCohorts.settings = settings(DEFAULT_SETTINGS, max_examples=100)
