"""Two sides of a comparison run in turn in one process (shared by the benchmark scripts):
the machine is shared and noisy, so each round alternates which side goes first, and each
side's best wall time is kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def alternate(sides: dict[str, Callable[[], Any]], rounds: int
              ) -> tuple[dict[str, Any], list[float]]:
    """Run the sides round after round (the first side first in odd rounds), printing each
    run's wall and CPU seconds; each side's last result and best wall time, in order."""
    best = dict.fromkeys(sides, float("inf"))
    results: dict[str, Any] = {}
    width = max(len(name) for name in sides)
    for r in range(rounds):
        for name, fn in (sides.items() if r % 2 == 0 else reversed(sides.items())):
            w, c = time.perf_counter(), time.process_time()
            results[name] = fn()
            w, c = time.perf_counter() - w, time.process_time() - c
            best[name] = min(best[name], w)
            print(f"round {r + 1}  {name:<{width}} {w:7.2f} s wall  {c:7.2f} s CPU")
    return results, list(best.values())
