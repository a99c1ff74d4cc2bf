"""How fast a live agent answers: `latest_signal` on its 250-bar window, side by side with naive ways.

Prints, per strategy, microseconds per call for
  ours   — `latest_signal` on the last 250 bars (what an agent runs per task),
  naive  — the same strategy over the whole history up to the bar (an agent that keeps no window),
and for `sma_crossover` also a straightforward pandas `.rolling()` version of the rule on the
same 250-bar window. Ratios are naive ÷ ours (higher means ours is faster).

    PYTHONPATH=. python bench/bench_strategies.py [--repeat 300]
"""

from __future__ import annotations

import argparse
import platform
import time

import pandas as pd

from tradeswarm.agents.strategies import STRATEGIES, latest_signal
from tradeswarm.marketdata import load_symbol

WINDOW = 250


def _per_call_us(fn, repeat: int) -> float:
    for _ in range(min(20, repeat)):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1e6


def _pandas_sma_crossover(frame: pd.DataFrame, fast: int = 10, slow: int = 50) -> str:
    close = frame["close"]
    diff = close.rolling(fast).mean() - close.rolling(slow).mean()
    now, before = diff.iloc[-1], diff.iloc[-2]
    return "BUY" if now > 0 >= before else "SELL" if now < 0 <= before else "HOLD"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    frame = load_symbol("SPX")
    window = frame.iloc[-WINDOW:]
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"pandas {pd.__version__}; SPX {len(frame)} bars, window {WINDOW}, repeat {args.repeat}")
    print(f"{'strategy':16} {'ours µs':>9} {'full-history µs':>16} {'ratio':>7}")
    worst = 0.0
    for name in STRATEGIES:
        ours = _per_call_us(lambda: latest_signal(name, window), args.repeat)
        naive = _per_call_us(lambda: latest_signal(name, frame), max(20, args.repeat // 10))
        worst = max(worst, ours)
        print(f"{name:16} {ours:9.1f} {naive:16.1f} {naive / ours:6.1f}x")
    ours = _per_call_us(lambda: latest_signal("sma_crossover", window), args.repeat)
    pandas_rolling = _per_call_us(lambda: _pandas_sma_crossover(window), args.repeat)
    assert _pandas_sma_crossover(window) == latest_signal("sma_crossover", window)["action"]
    print(f"sma_crossover on the window: ours {ours:.1f} µs vs pandas .rolling() {pandas_rolling:.1f} µs "
          f"= {pandas_rolling / ours:.2f}x")
    print(f"slowest latest_signal: {worst:.1f} µs (budget 2000 µs) -> "
          f"{1e6 / worst:,.0f} answers/s on one core")


if __name__ == "__main__":
    main()
