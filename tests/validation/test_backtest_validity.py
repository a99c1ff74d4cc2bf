"""certify_backtest: the `backtests` evidence entry, its gates and its crosscheck."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.backtest.shipped import load
from validation.backtest_validity import certify_backtest, warm_up
from validation.contract import DataContractError

KEYS = {"strategy", "symbol", "params", "trials", "total_return", "cagr", "volatility", "sharpe", "sortino",
        "max_drawdown", "max_drawdown_duration", "win_rate", "profit_factor", "trades", "open_trade",
        "exposure", "benchmark_return", "final_equity", "gates", "crosscheck"}
GATES = {"dsr", "psr", "walk_forward", "cost_stress_return", "lag_return", "min_trades_ok"}


def test_entry_has_the_contract_shape_and_strict_json():
    grid = {"fast": [5, 10, 20], "slow": [50, 100, 200]}
    e = certify_backtest(load("GOOG"), "sma_crossover", grid)
    assert KEYS <= set(e) and GATES <= set(e["gates"])
    assert e["trials"] == 9 and e["params"] in [{"fast": f, "slow": s} for f in grid["fast"] for s in grid["slow"]]
    assert e["crosscheck"]["agree"] is True and e["crosscheck"]["first_divergence"] is None
    assert [c["config"] for c in e["crosscheck"]["checked"]] == ["selected", "cost_stress", "lag"]
    assert e["crosscheck"]["equity_rel_diff"] <= 1e-9
    assert 2 <= len(e["equity_curve"]) <= 300 and e["equity_curve"][-1][1] == pytest.approx(e["final_equity"])
    assert e["equity_curve"][0][0] == load("GOOG").index[0].isoformat()
    assert len(e["gates"]["walk_forward"]["folds"]) == 4
    assert e["gates"]["cost_stress_return"] < e["total_return"]  # twice the fees costs money
    json.dumps(e, allow_nan=False)


def test_single_params_is_one_trial_and_dsr_equals_psr():
    e = certify_backtest(load("SPX"), "momentum", None)
    assert e["trials"] == 1 and e["gates"]["dsr"] == e["gates"]["psr"]


def test_min_trades_flag_follows_the_setting():
    frame = load("GOOG")
    params = {"fast": 10, "slow": 50}
    base = certify_backtest(frame, "sma_crossover", params)
    trades = base["trades"]
    assert certify_backtest(frame, "sma_crossover", params, {"min_trades": trades})["gates"]["min_trades_ok"] is True
    assert certify_backtest(frame, "sma_crossover", params, {"min_trades": trades + 1})["gates"]["min_trades_ok"] is False


def test_cost_multiplier_and_lag_move_their_gates():
    frame = load("SPX")
    params = {"fast": 10, "slow": 50}
    a = certify_backtest(frame, "sma_crossover", params, {"cost_multiplier": 2.0})
    b = certify_backtest(frame, "sma_crossover", params, {"cost_multiplier": 5.0, "lag_bars": 3})
    assert b["gates"]["cost_stress_return"] < a["gates"]["cost_stress_return"] < a["total_return"]
    assert a["gates"]["lag_return"] != b["gates"]["lag_return"]


def test_failed_dataset_is_refused_with_its_failures():
    frame = load("NDX")
    frame.iloc[200, frame.columns.get_loc("close")] = np.nan
    with pytest.raises(DataContractError) as info:
        certify_backtest(frame, "breakout")
    assert "not_null_close" in str(info.value) and info.value.entry["failed"] >= 1


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="min_trade"):
        certify_backtest(load("GOOG"), "momentum", None, {"min_trade": 3})


def test_warm_up_reports_engine_and_timings():
    out = warm_up()
    assert out["engine"] in ("rust", "numba") and out["first_call_s"] >= 0 and out["contract_s"] >= 0
