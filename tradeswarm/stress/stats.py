"""Latency summaries: HDR-histogram percentiles with seeded bootstrap confidence intervals.

Every operation the certification times (`sandbox_create`, `agent_deploy`, `task`, ...) is
summarised here into the `latency` entry of docs/contracts.md §5.

**Which percentiles a sample can support.** A percentile q is reported only when the sample
holds at least `ceil(1 / (1 - q))` values, i.e. when at least one observation is expected above
it: P50 needs 2, P90 10, P95 20, P99 100, P99.9 1000. Below that the value would be the sample
maximum wearing a percentile's name, so it is `None` and its name is listed in `insufficient`
(the CI of an insufficient percentile is `None` too). `max` and `mean` come from the raw
samples (exact); the percentiles from an HDR histogram at 3 significant digits, in microseconds.

>>> s = summarize([float(i) for i in range(1, 201)], seed=0)
>>> s["count"], round(s["p50"]), s["p99"] is not None, s["insufficient"]
(200, 100, True, ['p999'])
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
CI_OF = ("p95", "p99")
BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95
_US_PER_MS = 1000.0
_HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped, and still counted


def min_samples(percentile: float) -> int:
    """Smallest sample size that supports `percentile` (in %): one value expected above it."""
    return math.ceil(1.0 / (1.0 - percentile / 100.0) - 1e-9)


def _rank_index(n: int, percentile: float) -> int:
    """0-based index of HdrHistogram's percentile rank (so bootstrap and point estimate agree)."""
    return max(int(percentile * n / 100.0 + 0.5), 1) - 1


def histogram(samples_ms: Iterable[float]) -> HdrHistogram:
    """An HDR histogram of the samples, recorded in whole microseconds."""
    h = HdrHistogram(1, _HIGHEST_US, 3)
    for ms in samples_ms:
        h.record_value(min(max(int(round(ms * _US_PER_MS)), 1), _HIGHEST_US))
    return h


def bootstrap_ci(samples_ms: np.ndarray, percentile: float, seed: int,
                 resamples: int = BOOTSTRAP_RESAMPLES, level: float = CI_LEVEL) -> list[float]:
    """Percentile-bootstrap confidence interval of one percentile, seeded (same seed, same CI)."""
    n = len(samples_ms)
    rng = np.random.default_rng(seed)
    idx = _rank_index(n, percentile)
    estimates = np.empty(resamples)
    rows = max(1, 2_000_000 // n)  # bound memory: resample in blocks of rows
    for start in range(0, resamples, rows):
        stop = min(start + rows, resamples)
        block = samples_ms[rng.integers(0, n, size=(stop - start, n))]
        estimates[start:stop] = np.partition(block, idx, axis=1)[:, idx]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(estimates, [alpha, 1.0 - alpha])
    return [round(float(lo), 3), round(float(hi), 3)]


def summarize(samples_ms: Iterable[float], seed: int = 0) -> dict:
    """The contract's latency entry: count, p50..p999, max, mean, p95_ci, p99_ci, insufficient."""
    arr = np.asarray(list(samples_ms), dtype=float)
    n = int(arr.size)
    out: dict = {"count": n}
    hist = histogram(arr) if n else None
    insufficient = []
    for name, q in PERCENTILES.items():
        if n >= min_samples(q):
            out[name] = round(hist.get_value_at_percentile(q) / _US_PER_MS, 3)
        else:
            out[name] = None
            insufficient.append(name)
    out["max"] = round(float(arr.max()), 3) if n else None
    out["mean"] = round(float(arr.mean()), 3) if n else None
    for i, name in enumerate(CI_OF):
        ok = out[name] is not None
        out[f"{name}_ci"] = bootstrap_ci(arr, PERCENTILES[name], seed + i) if ok else None
    out["insufficient"] = insufficient
    return out
