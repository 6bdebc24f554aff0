"""A virtual clock: time is a value the test moves, never `time.time()`."""

from __future__ import annotations


class VirtualClock:
    """Seconds since the epoch, advanced explicitly; it never goes backwards."""

    def __init__(self, start: float) -> None:
        self.now = float(start)

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"time does not go backwards (advance by {seconds})")
        self.now += seconds
        return self.now

    def set(self, when: float) -> float:
        if when < self.now:
            raise ValueError(f"time does not go backwards ({when} < {self.now})")
        self.now = float(when)
        return self.now

    def __repr__(self) -> str:
        return f"VirtualClock({self.now!r})"


__all__ = ["VirtualClock"]
