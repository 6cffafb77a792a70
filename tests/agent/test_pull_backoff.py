"""Image pull back-off: 10 s doubling to 300 s per (pod uid, image), forgotten on success."""

from __future__ import annotations

import pytest

from pykube_control.agent.pull_backoff import PullBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_to_cap() -> None:
    backoff = PullBackoff(clock=Clock())

    delays = [backoff.failed(("uid", "image")) for _ in range(7)]

    assert delays == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_remaining_counts_down() -> None:
    clock = Clock()
    backoff = PullBackoff(clock=clock)
    backoff.failed(("uid", "image"))
    clock.now += 4

    assert backoff.remaining(("uid", "image")) == 6.0
    clock.now += 6
    assert backoff.remaining(("uid", "image")) == 0.0


def test_success_and_other_keys_start_clean() -> None:
    backoff = PullBackoff(clock=Clock())
    backoff.failed(("uid", "image"))
    backoff.failed(("uid", "image"))

    backoff.succeeded(("uid", "image"))

    assert backoff.remaining(("uid", "image")) == 0.0
    assert backoff.failed(("uid", "image")) == 10.0
    assert backoff.remaining(("other", "image")) == 0.0


def test_forget_drops_pod() -> None:
    backoff = PullBackoff(clock=Clock())
    backoff.failed(("uid", "a"))
    backoff.failed(("uid", "b"))
    backoff.failed(("keep", "a"))

    backoff.forget("uid")

    assert backoff.remaining(("uid", "a")) == 0.0
    assert backoff.remaining(("uid", "b")) == 0.0
    assert backoff.remaining(("keep", "a")) == 10.0


def test_invalid_bounds_rejected() -> None:
    with pytest.raises(ValueError, match="initial=20 maximum=10"):
        PullBackoff(initial=20, maximum=10)
