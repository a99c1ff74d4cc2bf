"""The backtests section: each strategy's figures, its validity gates and the reference cross-check."""

from __future__ import annotations

from reports._format import DASH, esc, fmt_generic, fmt_int, fmt_num, fmt_pct, table
from reports.sections._common import chart, generic_dict, headers, missing, num3, rows, section, text, yes_no
from validation.evidence import Backtest, Results

BACKTEST_COLUMNS = [
    ("strategy", "strategy", text),
    ("symbol", "dataset", text),
    ("trials", "trials", fmt_int),
    ("total_return", "return", fmt_pct),
    ("cagr", "CAGR", fmt_pct),
    ("volatility", "volatility", fmt_pct),
    ("sharpe", "Sharpe", fmt_num),
    ("sortino", "Sortino", fmt_num),
    ("max_drawdown", "max DD", fmt_pct),
    ("win_rate", "win rate", fmt_pct),
    ("profit_factor", "profit factor", fmt_num),
    ("trades", "trades", fmt_int),
    ("benchmark_return", "benchmark", fmt_pct),
]
GATE_COLUMNS = [  # fields of backtests[].gates
    ("dsr", "DSR", num3),
    ("psr", "PSR", num3),
    ("cost_stress_return", "return with stressed costs", fmt_pct),
    ("lag_return", "return with extra lag", fmt_pct),
    ("min_trades_ok", "enough trades", yes_no),
]


def _crosscheck(b: Backtest) -> list[str]:
    x = b.crosscheck
    agree = x.agree if x else None
    verdict = DASH if agree is None else ("✓ agrees" if agree else "✗ diverges")
    if x and x.first_divergence:
        verdict += f" at {esc(x.first_divergence)}"
    return [verdict, fmt_generic(x.equity_rel_diff) if x and x.has("equity_rel_diff") else DASH]


def backtests(results: Results, charts: set[str]) -> str:
    bts = results.backtests
    if not bts:
        return section("Backtests", missing("backtests"))
    metrics = table(headers(BACKTEST_COLUMNS), rows(bts, BACKTEST_COLUMNS), "ll" + "r" * (len(BACKTEST_COLUMNS) - 2))
    gate_rows = [cells + rows([b.gates], GATE_COLUMNS)[0] + [generic_dict(b.gates.walk_forward, scalars_only=True)] + _crosscheck(b)
                 for b, cells in zip(bts, rows(bts, BACKTEST_COLUMNS[:2]))]
    gates = table(
        headers(BACKTEST_COLUMNS[:2]) + headers(GATE_COLUMNS) + ["walk-forward", "reference simulator", "equity difference"],
        gate_rows,
        "llrrrrllll",
    )
    return section(
        "Backtests",
        "Filled at the next bar's open; every parameter trial counted.\n\n" + metrics,
        "Validity gates (deflated and probabilistic Sharpe ratio, cost and lag stress, walk-forward) and the cross-check "
        "by the independent reference simulator:\n\n" + gates,
        chart(charts, "equity_curves.png", "equity curves")
        or (None if any(b.equity_curve is not None for b in bts) else missing("equity curves")),
    )
