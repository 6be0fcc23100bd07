"""Side-by-side timing: several callables run in alternation, the order rotated every round, so the
shared machine's noise hits all of them alike."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["alternate"]


def alternate(
    timers: dict[str, Callable[[], object]], rounds: int, pause_s: float = 0.02, self_timed: bool = False
) -> dict[str, list[float]]:
    """Wall time of each callable, ms, over ``rounds`` alternated rounds, after one warm-up call each.

    Args:
        timers: name → a callable to time (its result is discarded unless ``self_timed``).
        rounds: rounds; in round r the callables run starting from the (r mod n)-th.
        pause_s: sleep before each call, seconds (lets the previous call's idle intra-op threads
            go to sleep).
        self_timed: the callables return their own duration in ms (e.g. of one stage only), which
            is recorded instead of the call's wall time.

    Returns:
        name → ``rounds`` durations in ms, in round order.
    """
    for fn in timers.values():  # warm-up: caches, lazy imports, first-run allocations
        fn()
    times: dict[str, list[float]] = {name: [] for name in timers}
    names = list(timers)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(pause_s)
            t0 = time.perf_counter()
            result = timers[name]()
            times[name].append(float(result) if self_timed else (time.perf_counter() - t0) * 1000)  # type: ignore[arg-type]
    return times
