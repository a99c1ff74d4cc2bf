"""Benchmark: a 1,000-combination sweep over the three shipped datasets.

Measured side by side in one run:
1. a fresh process (new interpreter: data load, imports, data contract, sweep) — the cold
   start a certification pays — broken into stages, twice: with the contract validated in a
   helper process while this one imports vectorbt and sweeps (`validation.contract_job`,
   as `tradeswarm backtest` runs), and with every stage one after the other;
2. the same sweep again in that warm process;
3. the reference event-loop simulator doing the same simulations (same combinations, same
   precomputed signals), and the ratio reference ÷ engine per simulated run (signals, which
   both need, are timed apart).

Usage: `PYTHONPATH=. .venv/bin/python bench/backtest.py [--combos N] [--reference-combos N] [--engines] [--json]`
(`--reference-combos` runs the reference on the first N combinations only and says so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

SYMBOLS = ("SPX", "NDX", "GOOG")


def grid(combos: int) -> dict:
    """sma_crossover: fast 2..41 × slow 50, 60, … — 1,000 valid combinations for combos=1000."""
    fast = list(range(2, 42))
    slow = list(range(50, 50 + 10 * -(-combos // len(fast)), 10))
    return {"fast": fast, "slow": slow}


def child(combos: int, overlap: bool) -> dict:
    """Runs in a fresh interpreter: every cold-start stage timed, then the warm repeat.

    `overlap`: the data contract runs in a helper process (`ContractJob`, started before the
    data is loaded) while this one loads the data, imports vectorbt and sweeps
    (`run_while_validating`: a sweep's result is kept only once its data passed); otherwise
    the contract runs here, each dataset's just before its sweep.
    """
    t0 = time.perf_counter()
    if overlap:  # the helper imports great-expectations while this process loads the data
        from validation.contract_job import ContractJob

        job = ContractJob()
    from tradeswarm.marketdata import load_symbol

    frames = {s: load_symbol(s) for s in SYMBOLS}
    if overlap:
        job.validate(frames)
    t_load = time.perf_counter()
    from tradeswarm.backtest import run_sweep, warm_up
    from validation.contract import ensure_valid, validate_frame

    # vectorbt's import and first simulation (a synthetic one: no data is used before its verdict)
    warm_up()
    t_import = time.perf_counter()
    g = grid(combos)
    first, waited = {}, 0.0
    for s, f in frames.items():
        t = time.perf_counter()
        if overlap:  # the sweep runs while the verdict may still be coming, and counts only if it passed
            swept = []

            def sweep(frame):
                t_sweep = time.perf_counter()
                result = run_sweep(frame, "sma_crossover", g)
                swept.append(time.perf_counter() - t_sweep)
                return result

            entry, first[s] = job.run_while_validating(s, sweep)
            waited += time.perf_counter() - t - swept[0]
        else:  # the verdict first, then the sweep
            entry = validate_frame(f, s)
            waited += time.perf_counter() - t
            first[s] = run_sweep(f, "sma_crossover", g, check_data=ensure_valid)
        assert entry["passed"], entry
    t_first = time.perf_counter()
    again = {s: run_sweep(f, "sma_crossover", g, check_data=ensure_valid) for s, f in frames.items()}
    t_warm = time.perf_counter()
    assert all(first[s]["best"] == again[s]["best"] for s in SYMBOLS)
    split = breakdown(frames, g)
    return split | {
        "overlap": overlap,
        "trials": sum(r["trials"] for r in first.values()),
        "load_s": t_load - t0,
        "import_s": t_import - t_load,
        "contract_s": waited,
        "first_sweep_s": t_first - t_import - waited,
        "fresh_total_s": t_first - t0,
        "warm_sweep_s": t_warm - t_first,
        "best": {s: r["best"]["params"] for s, r in first.items()},
    }


def first_call(engine: str) -> dict:
    """Runs in a fresh interpreter: one backtest on `engine`, first call then second call."""
    t0 = time.perf_counter()
    from tradeswarm.backtest._vbt import Fills
    from tradeswarm.backtest.engine import signal_matrix, simulate_signals
    from tradeswarm.marketdata import load_symbol

    from tradeswarm.backtest._vbt import vbt

    vbt()  # the import (3-4 s) is timed apart from the first simulation
    frame = load_symbol("SPX")
    sig = signal_matrix(frame, "sma_crossover", [{}])
    t1 = time.perf_counter()
    simulate_signals(frame, sig, Fills(), engine=engine, vbt_equity=True)
    t2 = time.perf_counter()
    simulate_signals(frame, sig, Fills(), engine=engine, vbt_equity=True)
    t3 = time.perf_counter()
    return {"engine": engine, "setup_s": t1 - t0, "first_call_s": t2 - t1, "second_call_s": t3 - t2}


def breakdown(frames: dict, g: dict) -> dict:
    """Warm: the sweep's two halves timed apart — strategy signals vs simulation + metrics."""
    from tradeswarm.backtest._vbt import Fills
    from tradeswarm.backtest.engine import expand_grid, signal_matrix, simulate_signals

    combos = expand_grid("sma_crossover", g)[0]
    t_sig = t_sim = t_met = 0.0
    for frame in frames.values():
        t = time.perf_counter()
        sig = signal_matrix(frame, "sma_crossover", combos)
        t_sig += time.perf_counter() - t
        t = time.perf_counter()
        run = simulate_signals(frame, sig, Fills())  # trades + equity curve: what the reference yields
        t_sim += time.perf_counter() - t
        t = time.perf_counter()
        run.summary()
        t_met += time.perf_counter() - t
    return {"warm_signals_s": t_sig, "warm_simulate_s": t_sim, "warm_metrics_s": t_met}


def reference(combos: int, limit: int | None) -> dict:
    """The reference event loop over the same combinations and signals (signals not timed)."""
    from tradeswarm.backtest._vbt import Fills
    from tradeswarm.backtest.engine import expand_grid, signal_matrix
    from tradeswarm.marketdata import load_symbol
    from validation.reference import simulate

    fills = Fills()
    done, seconds = 0, 0.0
    for s in SYMBOLS:
        frame = load_symbol(s)
        todo = expand_grid("sma_crossover", grid(combos))[0][:limit]
        sig = signal_matrix(frame, "sma_crossover", todo)
        o, c = frame["open"].to_numpy(), frame["close"].to_numpy()
        t = time.perf_counter()
        for j in range(sig.shape[1]):
            simulate(o, c, sig[:, j], fees=fills.fees, slippage=fills.slippage, cash=fills.cash)
        seconds += time.perf_counter() - t
        done += len(todo)
    return {"runs": done, "seconds": seconds}


def _fresh(mode: str, combos: int, env: dict) -> dict:
    """`child` in a new interpreter, plus the wall time of that whole process."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", mode, "--combos", str(combos)],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"process_wall_s": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--combos", type=int, default=1000)
    ap.add_argument("--reference-combos", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--engines", action="store_true",
                    help="also time the first backtest of a fresh process on the rust and numba engines")
    ap.add_argument("--child", choices=("overlap", "sequential"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--first-call", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.combos, args.child == "overlap")))
        return
    if args.first_call:
        print(json.dumps(first_call(args.first_call)))
        return
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    engines = [json.loads(subprocess.run([sys.executable, __file__, "--first-call", name], env=env, capture_output=True,
                                         text=True, check=True).stdout.strip().splitlines()[-1])
               for name in (("rust", "numba") if args.engines else ())]
    fresh, sequential = (_fresh(mode, args.combos, env) for mode in ("overlap", "sequential"))
    ref = reference(args.combos, args.reference_combos)
    per_run_ref = ref["seconds"] / ref["runs"]
    per_run_engine = fresh["warm_simulate_s"] / fresh["trials"]
    out = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "load_avg": os.getloadavg()},
        "engine": fresh,
        "reference": ref | {"per_run_s": per_run_ref},
        "ratio_reference_over_engine_simulation": per_run_ref / per_run_engine,
        "sequential_contract": sequential,
        "fresh_vs_warm_first_sweep": fresh["first_sweep_s"] / fresh["warm_sweep_s"],
        "goal_fresh_under_5s": fresh["fresh_total_s"] < 5.0,
        "first_backtest_fresh_process": engines,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    e = fresh
    print(f"machine: {out['machine']}")
    print(f"sweep: {e['trials']} backtests (sma_crossover, {args.combos} combos × {len(SYMBOLS)} datasets)")
    for label, x in (("contract in a helper process, overlapping the vectorbt import and the sweep", e),
                     ("everything one stage after the other", sequential)):
        print(f"fresh process ({label}): load {x['load_s']:.2f}s, vectorbt import + warm-up {x['import_s']:.2f}s, "
              f"data contract (great-expectations import incl.; waited for) {x['contract_s']:.2f}s, "
              f"first sweep {x['first_sweep_s']:.2f}s → total {x['fresh_total_s']:.2f}s (goal < 5 s: "
              f"{'met' if x['fresh_total_s'] < 5.0 else 'NOT met'})")
    print(f"warm process: same sweep {e['warm_sweep_s']:.2f}s (fresh/warm {out['fresh_vs_warm_first_sweep']:.2f}×); "
          f"of it strategy signals {e['warm_signals_s']:.2f}s, simulation {e['warm_simulate_s']:.2f}s, "
          f"metrics {e['warm_metrics_s']:.2f}s")
    print(f"simulation (trades + equity curve) per run: engine {per_run_engine * 1e3:.3f} ms, reference event loop {per_run_ref * 1e3:.2f} ms "
          f"({ref['runs']} runs) → ratio reference/engine {out['ratio_reference_over_engine_simulation']:.1f}×")
    for x in engines:
        print(f"first backtest in a fresh process on {x['engine']}: {x['first_call_s']:.2f}s "
              f"(second call {x['second_call_s'] * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
