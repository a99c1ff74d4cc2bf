"""Validity gates of a backtest: raw values only (the judge applies the spec's thresholds).

- `psr`: Probabilistic Sharpe Ratio, PSR(SR*) = Φ[(SR − SR*)·√(T−1) / √(1 − γ3·SR + (γ4−1)/4·SR²)],
  with per-bar SR = mean(r)/std(r), skew γ3 and plain (non-excess) kurtosis γ4 of the T returns.
- `expected_max_sharpe`: SR0 = √V·((1−γ)·Φ⁻¹(1−1/N) + γ·Φ⁻¹(1−1/(N·e))), γ = Euler–Mascheroni,
  V the variance of the N trials' per-bar Sharpes (0 for a single trial).
- `deflated_sharpe`: DSR = PSR(SR0) (Bailey & López de Prado 2014).
- `walk_forward`: expanding in-sample windows pick the best combination by Sharpe; the next
  segment is traded out of sample with it.
- cost stress and lag returns come from re-running the selected configuration
  (`validation.backtest_validity`); `min_trades_ok` says whether enough trades exist for any
  statistic to count.

>>> import numpy as np
>>> round(expected_max_sharpe(100, 0.0004), 4)
0.0506
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

EULER_GAMMA = 0.5772156649015329


def _moments(r: np.ndarray) -> tuple[float, float, float, int]:
    r = np.asarray(r, dtype=float)
    sd = r.std(ddof=1)
    sr = float(r.mean() / sd) if sd > 0 else float("nan")
    return sr, float(stats.skew(r)), float(stats.kurtosis(r, fisher=False)), len(r)


def psr(returns: np.ndarray, sr_star: float = 0.0) -> float | None:
    """Probability that the true per-bar Sharpe exceeds `sr_star` (None with < 3 returns or flat)."""
    sr, g3, g4, t = _moments(returns)
    if t < 3 or not math.isfinite(sr):
        return None
    denom = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr
    if denom <= 0:
        return None
    return float(stats.norm.cdf((sr - sr_star) * math.sqrt(t - 1) / math.sqrt(denom)))


def expected_max_sharpe(trials: int, variance: float) -> float:
    """Expected best per-bar Sharpe among `trials` skill-less trials with that Sharpe variance."""
    if trials <= 1 or variance <= 0:
        return 0.0
    z1 = stats.norm.ppf(1.0 - 1.0 / trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (trials * math.e))
    return float(math.sqrt(variance) * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


def trial_sharpes(returns_matrix: np.ndarray) -> np.ndarray:
    """Per-bar Sharpe of every column (trial) of a bars × trials return matrix."""
    sd = returns_matrix.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, returns_matrix.mean(axis=0) / sd, np.nan)


def deflated_sharpe(returns: np.ndarray, trials: int, sharpes_of_trials: np.ndarray | None = None) -> dict:
    """`{dsr, psr, sr, sr0, trials, sharpe_variance}` of the selected returns given all trials."""
    var = 0.0
    if sharpes_of_trials is not None:
        finite = np.asarray(sharpes_of_trials, dtype=float)
        finite = finite[np.isfinite(finite)]
        var = float(finite.var(ddof=1)) if len(finite) > 1 else 0.0
    sr0 = expected_max_sharpe(trials, var)
    sr = _moments(returns)[0]
    return {
        "dsr": psr(returns, sr0),
        "psr": psr(returns, 0.0),
        "sr": sr if math.isfinite(sr) else None,
        "sr0": sr0,
        "trials": int(trials),
        "sharpe_variance": var,
    }


def fold_bounds(bars: int, folds: int, start: int = 0) -> list[tuple[int, int, int]]:
    """(in-sample start..end = oos start, oos end) of expanding walk-forward folds.

    The bars from `start` are cut into `folds + 1` equal segments; fold i trains on segments
    0..i−1 (from bar 0, so indicators are warm) and tests on segment i.
    """
    if folds < 1:
        raise ValueError("walk-forward needs at least one fold")
    edges = np.linspace(start, bars, folds + 2).astype(int)
    return [(int(edges[0]), int(edges[i]), int(edges[i + 1])) for i in range(1, folds + 1)]


def walk_forward(simulate, signals: np.ndarray, combos: list[dict], bars: int, folds: int,
                 start: int = 0) -> dict:
    """Choose in sample, trade out of sample, per fold; report the degradation.

    `simulate(lo, hi, signals_of_columns) -> list of metric dicts` runs bars lo..hi−1 from flat
    (signals are causal and computed on the whole history, so slicing them looks nothing up
    ahead). Result: `{folds: [{fold, is_start, is_end, oos_end, params, is_sharpe, oos_sharpe,
    oos_return, oos_trades}], is_sharpe_mean, oos_sharpe_mean, degradation, oos_return}` with
    degradation = is_sharpe_mean − oos_sharpe_mean.
    """
    rows = []
    growth = 1.0
    for i, (lo, mid, hi) in enumerate(fold_bounds(bars, folds, start)):
        ins = simulate(lo, mid, signals)
        scores = np.array([s["sharpe"] if s["sharpe"] is not None else -np.inf for s in ins])
        best = int(np.argmax(scores))
        oos = simulate(mid, hi, signals[:, [best]])[0]
        growth *= 1.0 + (oos["total_return"] or 0.0)
        rows.append({
            "fold": i, "is_start": lo, "is_end": mid, "oos_end": hi, "params": combos[best],
            "is_sharpe": ins[best]["sharpe"], "oos_sharpe": oos["sharpe"],
            "oos_return": oos["total_return"], "oos_trades": oos["trades"],
        })

    def mean(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(vals)) if vals else None

    is_m, oos_m = mean("is_sharpe"), mean("oos_sharpe")
    return {
        "folds": rows,
        "is_sharpe_mean": is_m,
        "oos_sharpe_mean": oos_m,
        "degradation": None if is_m is None or oos_m is None else is_m - oos_m,
        "oos_return": growth - 1.0,
    }


def min_trades_gate(trades: int, minimum: int) -> dict:
    """Whether a backtest made enough trades for its statistics to count."""
    return {"trades": int(trades), "min_trades": int(minimum), "min_trades_ok": trades >= minimum}
