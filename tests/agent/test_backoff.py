"""Tests of the crash back-off of restarting containers."""

from __future__ import annotations

import pytest

from pykube_control.agent.backoff import CrashBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


KEY = ("uid-1", "main")


def test_first_restart_immediate() -> None:
    backoff = CrashBackoff(clock=Clock())
    assert backoff.remaining(KEY, finished_at=1000.0, ran_for=1.0) == 0.0


def test_delays_double_to_cap() -> None:
    backoff = CrashBackoff(initial=10, maximum=40, clock=Clock())
    delays = [backoff.record_restart(KEY) for _ in range(5)]
    assert delays == [10, 20, 40, 40, 40]


def test_remaining_counts_from_finish() -> None:
    clock = Clock()
    backoff = CrashBackoff(initial=10, clock=clock)
    backoff.record_restart(KEY)
    clock.now = 1004.0
    assert backoff.remaining(KEY, finished_at=1000.0, ran_for=1.0) == pytest.approx(6.0)


def test_long_run_resets() -> None:
    backoff = CrashBackoff(initial=10, reset_after=60, clock=Clock())
    backoff.record_restart(KEY)
    backoff.record_restart(KEY)
    assert backoff.remaining(KEY, finished_at=1000.0, ran_for=61.0) == 0.0
    assert backoff.record_restart(KEY) == 10


def test_forget_pod() -> None:
    backoff = CrashBackoff(clock=Clock())
    backoff.record_restart(KEY)
    backoff.record_restart(("uid-2", "main"))
    backoff.forget("uid-1")
    assert backoff.current(KEY) == 0.0
    assert backoff.current(("uid-2", "main")) == 10.0


def test_invalid_bounds() -> None:
    with pytest.raises(ValueError, match="initial"):
        CrashBackoff(initial=20, maximum=10)
