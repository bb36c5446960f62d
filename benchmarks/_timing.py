"""Small timing helpers shared by the benchmarks."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A scratch folder for one benchmark, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"odonto-bench-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def per_call(func: Callable[[], object], *, repeat: int, number: int) -> float:
    """Median seconds per call over ``repeat`` rounds of ``number`` calls."""
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        rounds.append((time.perf_counter() - t0) / number)
    return statistics.median(rounds)


def percentiles(samples: list[float], *points: float) -> list[float]:
    s = sorted(samples)
    return [s[min(len(s) - 1, int(p / 100 * len(s)))] for p in points]
