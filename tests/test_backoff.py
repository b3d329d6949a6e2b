"""The one back-off (``edge.runtime.backoff``): its caps, and the jitter each caller asks for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.runtime.backoff import Backoff, Jitter


def delays(backoff: Backoff, count: int) -> list[float]:
    return [backoff.next_delay() for _ in range(count)]


def test_the_cap_doubles_per_failure_up_to_the_maximum() -> None:
    # rng at its top: each pause is its cap (full jitter draws up to the cap).
    backoff = Backoff(1.0, 10.0, jitter="full", rng=lambda: 1.0)
    assert delays(backoff, 6) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_full_jitter_may_retry_at_once_equal_jitter_never_does() -> None:
    # The lowest draw: full jitter goes at once, equal jitter still waits half the cap.
    full = Backoff(1.0, 60.0, jitter="full", rng=lambda: 0.0)
    equal = Backoff(1.0, 60.0, jitter="equal", rng=lambda: 0.0)
    assert delays(full, 4) == [0.0, 0.0, 0.0, 0.0]
    assert delays(equal, 4) == [0.5, 1.0, 2.0, 4.0]


def test_reset_starts_from_the_first_pause_again() -> None:
    backoff = Backoff(0.5, 8.0, jitter="equal", rng=lambda: 1.0)
    delays(backoff, 5)
    assert backoff.failures == 5
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == 0.5


def test_a_long_outage_does_not_overflow() -> None:
    backoff = Backoff(0.1, 30.0, jitter="full", rng=lambda: 1.0)
    assert delays(backoff, 2000)[-1] == 30.0


@pytest.mark.parametrize(("initial", "maximum"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_a_back_off_that_cannot_work_is_refused(initial: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="0 < initial <= maximum"):
        Backoff(initial, maximum, jitter="full")


@given(
    jitter=st.sampled_from(["full", "equal"]),
    draws=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=80),
)
def test_every_pause_lies_in_its_jitter_band(jitter: Jitter, draws: list[float]) -> None:
    it = iter(draws)
    backoff = Backoff(0.25, 20.0, jitter=jitter, rng=lambda: next(it))
    for _ in draws:
        cap = backoff.cap()
        delay = backoff.next_delay()
        low = 0.0 if jitter == "full" else cap / 2
        assert low <= delay <= cap <= 20.0
