"""Preflight: a loaded spec checked against what this machine has, before any work starts.

The schema (`validation.spec`) checks each value on its own. Preflight checks what the schema
cannot: that the sandbox template exists, that every strategy's parameters (and at least one
combination of every sweep) are valid, that the symbols and the date window exist in the data
actually available, and that counts which size memory stay within their documented bounds.
`tradeswarm spec check`, `certify` and `serve` all run it, so a spec that passes `spec check`
does not fail at run time for any of these reasons. It starts no service and reads no data
file (the manifest says what the shipped files cover; see docs/contracts.md §1).

>>> from validation.spec import load_spec
>>> preflight(load_spec("smoke"), provider="local")
>>> preflight(load_spec("smoke", overrides={"sandboxes": {"template": "nosuch"}}), provider="local")
Traceback (most recent call last):
...
validation.spec.SpecError: spec 'smoke': sandboxes.template 'nosuch' is not a template of the local sandboxd (base, trading)
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from tradeswarm.backtest.engine import expand_grid
from tradeswarm.marketdata import coverage, shipped_symbols, uncovered
from tradeswarm.sandbox.sandboxd.templates import TEMPLATES
from tradeswarm.settings import get_settings
from validation import _calendar
from validation.spec import MAX_TRIALS, Spec, SpecError

__all__ = ["preflight", "problems"]


def preflight(spec: Spec, *, provider: str) -> None:
    """Raise `SpecError` naming every problem `problems` finds; return None when there is none."""
    found = problems(spec, provider=provider)
    if found:
        raise SpecError(f"spec {spec.name!r}: " + "; ".join(found))


def problems(spec: Spec, *, provider: str) -> list[str]:
    """Every reason this spec would fail at run time on `provider` ("local" or "e2b"), one line each."""
    return [*_template(spec, provider), *_agents(spec), *_data(spec), *_backtests(spec)]


def _template(spec: Spec, provider: str) -> list[str]:
    # E2B's templates live in the cloud: the provision stage finds an unknown one on its first create
    if provider == "local" and spec.sandboxes.template not in TEMPLATES:
        return [f"sandboxes.template {spec.sandboxes.template!r} is not a template of the local sandboxd "
                f"({', '.join(TEMPLATES)})"]
    return []


def _servable(symbol: str) -> bool:
    """Agents read shipped or synthetic bars inside their sandbox (no Alpaca keys reach it)."""
    return coverage(symbol) is not None


def _agents(spec: Spec) -> list[str]:
    out = []
    for i, agent in enumerate(spec.agents):
        try:
            expand_grid(agent.type, {k: [v] for k, v in agent.params.items()})
        except ValueError as e:
            out.append(f"agents[{i}].params: {e}")
        bad = [s for s in agent.symbols if not _servable(s)]
        if bad:
            out.append(f"agents[{i}].symbols {bad}: an agent serves shipped symbols "
                       f"({', '.join(shipped_symbols())}) or synthetic ones (SYN<n>)")
    return out


def _data(spec: Spec) -> list[str]:
    d, out = spec.data, []
    if d.source == "alpaca" and not get_settings().has_alpaca:
        out.append("data.source alpaca needs ALPACA_API_KEY and ALPACA_API_SECRET in the environment")
    for symbol in d.datasets:
        span = coverage(symbol)
        if span is None:
            if d.source == "shipped":
                out.append(f"data.datasets: {symbol!r} is neither shipped ({', '.join(shipped_symbols())}) "
                           "nor synthetic (SYN<n>)")
            continue
        problem = uncovered(symbol, d.start, d.end)
        if problem:
            out.append(f"data window: {problem}")
            continue
        lo, hi = d.start or span[0], d.end or span[1]
        if hi is not None:
            out += _sessions_needed(symbol, _count_sessions(lo, hi), d.contract.min_rows, spec.stress.window)
    return out


def _count_sessions(lo: date, hi: date) -> int:
    days = _calendar.sessions(pd.Timestamp(lo), pd.Timestamp(hi))
    return int(np.count_nonzero((days >= np.datetime64(lo, "D")) & (days <= np.datetime64(hi, "D"))))


def _sessions_needed(symbol: str, n: int, min_rows: int, bars_per_task: int) -> list[str]:
    out = []
    if n < min_rows:
        out.append(f"data window holds {n} sessions of {symbol}, fewer than data.contract.min_rows {min_rows}")
    if n < bars_per_task:
        out.append(f"stress.window {bars_per_task} bars per task exceeds the {n} sessions of {symbol}")
    return out


def _backtests(spec: Spec) -> list[str]:
    out = []
    for i, st in enumerate(spec.backtest.strategies):
        if st.trials > MAX_TRIALS:
            out.append(f"backtest.strategies[{i}] ({st.name}): {st.trials:,} sweep combinations, "
                       f"more than {MAX_TRIALS:,}")
            continue
        grid = {k: [v] for k, v in st.params.items()} | st.sweep
        try:
            expand_grid(st.name, grid)
        except ValueError as e:
            out.append(f"backtest.strategies[{i}]: {e}")
    return out
