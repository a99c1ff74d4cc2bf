"""Research commands: `backtest` (one strategy, one or more symbols, optional sweep)."""

from __future__ import annotations

import io
from typing import Any

import click

from tradeswarm.cli._common import (
    EXIT_FAIL, EXIT_OK, UsageError, check_writable, command, emit, json_option, parse_date, table,
)


def _value(text: str) -> Any:
    """A CLI parameter value: int, then float, then true/false, else the string."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _pairs(text: str | None, flag: str) -> list[tuple[str, str]]:
    out = []
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise UsageError(f"{flag}: expected key=value, got {item!r}")
        out.append((key.strip(), val.strip()))
    return out


def parse_params(text: str | None) -> dict[str, Any]:
    """`fast=10,slow=50` → {"fast": 10, "slow": 50}."""
    return {k: _value(v) for k, v in _pairs(text, "--params")}


def parse_sweep(text: str | None) -> dict[str, list]:
    """`fast=5:50:5,slow=100:200:50` → inclusive ranges {"fast": [5, 10, …, 50], "slow": [100, 150, 200]}."""
    grid = {}
    for key, spec in _pairs(text, "--sweep"):
        parts = [_value(p) for p in spec.split(":")]
        if len(parts) not in (2, 3) or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in parts):
            raise UsageError(f"--sweep {key}: expected start:stop[:step] numbers, got {spec!r}")
        start, stop, step = (*parts, 1) if len(parts) == 2 else parts
        if step <= 0 or stop < start:
            raise UsageError(f"--sweep {key}: need step > 0 and stop >= start, got {spec!r}")
        count = int(round((stop - start) / step + 1e-9)) + 1
        values = [start + i * step for i in range(count)]
        grid[key] = [int(v) if all(isinstance(p, int) for p in parts) else round(v, 12) for v in values]
    return grid


def _chart(path: str, entries: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from tradeswarm.atomic import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(10, 5))
    for e in entries:
        ts = pd.to_datetime([p[0] for p in e["equity_curve"]])
        ax.plot(ts, [p[1] for p in e["equity_curve"]], label=f"{e['symbol']} {e['strategy']}")
        ax.plot(ts, [p[2] for p in e["equity_curve"]], linestyle="--", linewidth=0.8, label=f"{e['symbol']} buy & hold")
    ax.set_ylabel("equity")
    ax.set_title("Equity curve (fills at next bar's open)")
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "-" if v is None else str(v)


def prepare_backtests(strategy: str, names: list[str], start, end, grid: dict, *, fees: float | None = None,
                      slippage: float | None = None, cash: float | None = None) -> tuple:
    """Check a backtest request before anything runs: `ValueError` on an unknown strategy or
    symbol, bad parameters, or dates the data does not cover (`start`, `end`: dates or None).
    Returns what `run_backtests` takes."""
    from tradeswarm.agents.strategies import get_strategy
    from tradeswarm.backtest import BacktestSettings
    from tradeswarm.backtest.engine import expand_grid
    from tradeswarm.marketdata import check_window, get_frames

    check_window(names, start, end)
    strat = get_strategy(strategy)
    expand_grid(strat, {k: v if isinstance(v, list) else [v] for k, v in grid.items()})
    settings = BacktestSettings.from_any({"fees": fees, "slippage": slippage, "cash": cash})
    settings.fills()
    return strat, names, grid, settings, get_frames(names, start and start.isoformat(), end and end.isoformat())


def run_backtests(prepared: tuple) -> tuple[dict, bool]:
    """Backtest a prepared request on each symbol (the CLI's `backtest` and the MCP tool
    `run_backtest`). Returns `(document, failed)`: failed when a dataset broke its contract or
    the reference simulator disagreed."""
    from validation.backtest_validity import certify_backtest
    from validation.contract_job import validate_in_background

    strat, names, grid, settings, frames = prepared
    results, validations, failed = [], [], False
    # great-expectations validates in a helper process while vectorbt imports and simulates here
    job = validate_in_background(frames, settings.contract)
    for sym in frames:
        entry, result = job.run_while_validating(
            sym, lambda frame: certify_backtest(frame, strat, grid, settings, require_valid=False))
        validations.append(entry)
        if result is None:
            failed = True
        else:
            results.append(result)
    failed = failed or any(not r["crosscheck"]["agree"] for r in results)
    return {"strategy": strat.name, "symbols": names, "backtests": results, "data_validation": validations}, failed


@command("backtest")
@click.option("--strategy", required=True, help="Strategy name (sma_crossover, momentum, ...).")
@click.option("--symbols", required=True, help="Comma-separated symbols (SPX, NDX, GOOG, SYN<n>).")
@click.option("--start", required=True, help="First session date, YYYY-MM-DD.")
@click.option("--end", default=None, help="Last session date, YYYY-MM-DD (default: the data's end).")
@click.option("--params", default=None, help="Strategy parameters, k=v,... (default: the strategy's).")
@click.option("--sweep", default=None, help="Parameter ranges k=start:stop:step,... (inclusive); best by Sharpe.")
@click.option("--fees", type=float, default=None, help="Fees as a fraction of order value (default 0.001).")
@click.option("--slippage", type=float, default=None, help="Adverse slippage fraction (default 0.0005).")
@click.option("--cash", type=float, default=None, help="Initial cash (default 100000).")
@click.option("--chart", default=None, help="Save the equity curves as this PNG file.")
@json_option
def backtest(strategy, symbols, start, end, params, sweep, fees, slippage, cash, chart, as_json):
    """Backtest a strategy (fills at the next bar's open) with gates and a reference crosscheck.

    Validates each dataset against the data contract (a failing dataset is reported with its
    failing rows and no result: exit 1). Prints a metrics table, or with --json one document with the metrics,
    trade counts, gate results (DSR, PSR, walk-forward, cost stress, lag, min trades) and the
    reference simulator's crosscheck. Exit 1 when data failed or the crosscheck disagreed.

    Example: tradeswarm backtest --strategy sma_crossover --symbols SPX --start 2005-01-01
    --sweep fast=5:50:5,slow=100:200:50 --json
    """
    if params and sweep:
        raise UsageError("use --params or --sweep, not both")
    if chart is not None and not chart.lower().endswith(".png"):
        raise UsageError(f"--chart: expected a .png path, got {chart!r}")
    if chart is not None:
        check_writable(chart, "--chart")
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    if not names:
        raise UsageError("--symbols: no symbol given")
    grid = parse_sweep(sweep) if sweep else parse_params(params)
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    try:
        prepared = prepare_backtests(strategy, names, first, last, grid, fees=fees, slippage=slippage, cash=cash)
    except ValueError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    doc, failed = run_backtests(prepared)
    results, validations = doc["backtests"], doc["data_validation"]
    if chart and results:
        _chart(chart, results)
    doc["chart"] = chart if results and chart else None

    def human() -> str:
        cols = ["symbol", "params", "trials", "total_return", "cagr", "sharpe", "sortino", "max_drawdown",
                "win_rate", "trades", "exposure", "benchmark_return"]
        rows = [{c: _fmt(r[c]) for c in cols} for r in results]
        gate_rows = [{"symbol": r["symbol"], "dsr": _fmt(r["gates"]["dsr"]), "psr": _fmt(r["gates"]["psr"]),
                      "wf_oos_sharpe": _fmt(r["gates"]["walk_forward"]["oos_sharpe_mean"]),
                      "cost_x2_return": _fmt(r["gates"]["cost_stress_return"]),
                      "lag_return": _fmt(r["gates"]["lag_return"]),
                      "min_trades_ok": _fmt(r["gates"]["min_trades_ok"]),
                      "crosscheck": "agree" if r["crosscheck"]["agree"] else "DISAGREE"} for r in results]
        lines = [table(rows, cols), "", table(gate_rows)] if results else []
        for v in validations:
            if not v["passed"]:
                lines.append(f"{v['dataset']}: data contract FAILED: " + "; ".join(
                    f"{f['check']} ({f['unexpected_count']} rows, e.g. {f['sample'][:1]})" for f in v["failures"]))
        if doc["chart"]:
            lines.append(f"chart: {chart}")
        return "\n".join(lines)

    emit(as_json, doc, human)
    return EXIT_FAIL if failed else EXIT_OK
