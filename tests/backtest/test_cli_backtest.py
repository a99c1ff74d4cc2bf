"""`tradeswarm backtest`: table, one JSON document, chart, bad input → exit 2."""

from __future__ import annotations

import json
import sys

import pytest

from tradeswarm.cli import run_cli
from tradeswarm.cli.research import parse_params, parse_sweep


def test_parsers():
    assert parse_params("fast=10,slow=50,x=0.5,y=true") == {"fast": 10, "slow": 50, "x": 0.5, "y": True}
    assert parse_sweep("fast=5:15:5,slow=100:200") == {"fast": [5, 10, 15], "slow": list(range(100, 201))}
    assert parse_sweep("k=0.1:0.3:0.1") == {"k": [0.1, 0.2, 0.3]}


@pytest.mark.slow
def test_json_document_with_gates_and_a_chart(tmp_path, capsys):
    chart = tmp_path / "eq.png"
    rc = run_cli(["backtest", "--strategy", "sma_crossover", "--symbols", "GOOG", "--start", "2005-01-01",
                  "--sweep", "fast=5:15:5,slow=50:100:50", "--chart", str(chart), "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert rc == 0
    (bt,) = doc["backtests"]
    assert bt["trials"] == 6 and bt["symbol"] == "GOOG" and "dsr" in bt["gates"] and bt["crosscheck"]["agree"]
    assert doc["data_validation"][0]["passed"] is True
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_output(capsys):
    rc = run_cli(["backtest", "--strategy", "momentum", "--symbols", "SPX", "--start", "2010-01-01",
                  "--end", "2015-12-31", "--fees", "0.002"])
    out = capsys.readouterr().out
    assert rc == 0 and "TOTAL_RETURN" in out and "CROSSCHECK" in out and "agree" in out


def test_failing_data_is_reported_not_backtested(capsys):
    # one month of bars is below the contract's default min_rows (250)
    rc = run_cli(["backtest", "--strategy", "momentum", "--symbols", "SPX", "--start", "2018-12-01", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["backtests"] == []
    assert [f["check"] for f in doc["data_validation"][0]["failures"]] == ["min_rows"]


@pytest.mark.parametrize("args,needle", [
    (["--strategy", "nope", "--symbols", "SPX", "--start", "2005-01-01"], "unknown strategy"),
    (["--strategy", "momentum", "--symbols", "NOPE", "--start", "2005-01-01"], "NOPE"),
    (["--strategy", "momentum", "--symbols", "SPX", "--start", "yesterdayish"], "not a date"),
    (["--strategy", "sma_crossover", "--symbols", "SPX", "--start", "2005-01-01", "--params", "fast=90,slow=20"], "fast"),
    (["--strategy", "sma_crossover", "--symbols", "SPX", "--start", "2005-01-01", "--sweep", "fast=9:1"], "stop >= start"),
    (["--strategy", "momentum", "--symbols", "SPX", "--start", "2005-01-01", "--params", "bogus"], "key=value"),
    (["--strategy", "momentum", "--symbols", "SPX", "--start", "2030-01-01"], "data covers"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, capsys, monkeypatch):
    argv = ["backtest", *args, "--json"]
    monkeypatch.setattr(sys, "argv", ["tradeswarm", *argv])  # the CLI frame reads --json from argv
    rc = run_cli(argv)
    cap = capsys.readouterr()
    assert rc == 2
    assert needle in json.loads(cap.out)["error"]
    assert len(cap.err.strip().splitlines()) == 1 and "Traceback" not in cap.err
