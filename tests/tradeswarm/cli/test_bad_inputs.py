"""Every bad input is refused before work starts: exit 2, one line, no traceback, nothing made.

One row per input the project once got wrong (issue: "every bad input refused before work
starts"). Each runs the real CLI entry in this process with a fresh state directory and an
output directory that must stay absent; "before work starts" is asserted as ordering: the
state directory is still empty afterwards, so no sandboxd was started, no sandbox created, no
ledger or run folder written.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import namedtuple
from pathlib import Path

import pytest
import yaml

from tradeswarm.cli import run_cli
from validation.spec import PROFILES_DIR

Row = namedtuple("Row", "argv needle")


def _spec(tmp: Path, **change) -> str:
    """The smoke profile with sections replaced, written to a file."""
    data = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    for path, value in change.items():
        node = data
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    out = tmp / "spec.yaml"
    out.write_text(yaml.safe_dump(data))
    return str(out)


def _garbage(tmp: Path) -> str:
    (tmp / "garbage.sqlite").write_bytes(b"this is not a database" * 100)
    return str(tmp / "garbage.sqlite")


def _huge_spec(tmp: Path) -> str:
    with open(tmp / "huge.yaml", "wb") as f:  # sparse: 200 MB on paper, nothing on disk
        f.truncate(200 << 20)
    return str(tmp / "huge.yaml")


def _not_a_verdict(tmp: Path) -> str:
    run = tmp / "run"
    run.mkdir()
    golden = json.loads((Path(__file__).parents[2] / "reports" / "golden" / "results.json").read_text())
    (run / "results.json").write_text(json.dumps(golden | {"checks": "notalist"}))
    return str(run)


ROWS = {
    "spec-unknown-template": (lambda t: ["spec", "check", _spec(t, sandboxes__template="nosuch")], "nosuch"),
    "certify-unknown-template": (lambda t: ["certify", "--spec", _spec(t, sandboxes__template="nosuch"),
                                            "--out", str(t / "out")], "sandboxes.template"),
    "spec-sweep-fast-above-slow": (lambda t: ["spec", "check", _spec(
        t, backtest__strategies=[{"name": "sma_crossover", "sweep": {"fast": [60, 80], "slow": [50]}}])],
        "must be < slow"),
    "spec-window-past-the-data": (lambda t: ["spec", "check", _spec(t, data__end="2099-01-01")], "data covers"),
    "spec-unknown-dataset": (lambda t: ["spec", "check", _spec(t, data__datasets=["SPX", "ZZZZ"])], "ZZZZ"),
    "spec-alpaca-without-keys": (lambda t: ["spec", "check", _spec(t, data__source="alpaca")], "ALPACA_API_KEY"),
    "spec-too-many-tasks": (lambda t: ["spec", "check", _spec(t, stress__tasks=10_000_000)], "stress.tasks"),
    "spec-200MB": (lambda t: ["spec", "check", _huge_spec(t)], "larger than a spec may be"),
    "stress-unknown-agent-type": (lambda t: ["stress", "--agent-type", "nosuch", "--out", str(t / "out")], "nosuch"),
    "stress-unknown-symbol": (lambda t: ["stress", "--symbols", "ZZZZ", "--out", str(t / "out")], "ZZZZ"),
    "stress-ten-million-tasks": (lambda t: ["stress", "--tasks", "10000000", "--out", str(t / "out")], "at most"),
    "stress-inspect-garbage": (lambda t: ["stress", "--inspect", _garbage(t)], "not a stress ledger"),
    "execute-end-not-a-date": (lambda t: ["execute", "--strategy", "momentum", "--symbols", "SPX",
                                          "--end", "notadate"], "not a date"),
    "execute-end-before-the-data": (lambda t: ["execute", "--strategy", "momentum", "--symbols", "SPX",
                                               "--end", "1990-01-01"], "data covers"),
    "execute-end-after-the-data": (lambda t: ["execute", "--strategy", "momentum", "--symbols", "SPX",
                                              "--end", "2099-01-01"], "data covers"),
    "certify-out-read-only": (lambda t: ["certify", "--profile", "smoke", "--out", "/proc/tradeswarm-run"],
                              "not writable"),
    "backtest-chart-unwritable": (lambda t: ["backtest", "--strategy", "momentum", "--symbols", "SPX",
                                             "--start", "2010-01-01", "--chart", "/proc/nope.png"], "not writable"),
    "report-checks-not-a-list": (lambda t: ["report", _not_a_verdict(t)], "checks: Input should be a valid list"),
}


@pytest.fixture
def clean_state(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("TRADESWARM_STATE_DIR", str(state))
    for var in ("E2B_API_KEY", "ALPACA_API_KEY", "ALPACA_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return state


def _run(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tradeswarm", *argv])  # the CLI reads --json from argv
    rc = run_cli(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("name", sorted(ROWS))
def test_bad_input_is_refused_before_work_starts(name, tmp_path, clean_state, monkeypatch, capsys):
    make_argv, needle = ROWS[name]
    argv = make_argv(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    rc, out, err = _run(argv, monkeypatch, capsys)
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("tradeswarm: error:") and needle in err, err
    assert "Traceback" not in err and "Error:" not in err.removeprefix("tradeswarm: error:")
    assert not any(clean_state.iterdir()), "work started: the state directory was written"
    assert sorted(tmp_path.rglob("*")) == before, "a file was left behind"
    rc, out, _ = _run([*argv, "--json"], monkeypatch, capsys)
    assert rc == 2 and json.loads(out)["exit_code"] == 2


def test_certify_refuses_an_output_filesystem_without_room(tmp_path, clean_state, monkeypatch, capsys):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1 << 20))
    rc, _, err = _run(["certify", "--profile", "smoke", "--out", str(tmp_path / "out")], monkeypatch, capsys)
    assert rc == 2 and "1 MB free" in err and not (tmp_path / "out").exists()


def test_deploy_into_a_missing_sandbox_is_bad_input(sandboxd, monkeypatch, capsys):
    rc, _, err = _run(["deploy", "--agent", "momentum", "--symbols", "SPX", "--sandbox", "nosuch"],
                      monkeypatch, capsys)
    assert rc == 2 and "no sandbox nosuch" in err and "Paused" not in err


def test_the_opposite_a_good_spec_passes_every_preflight_check(clean_state, monkeypatch, capsys):
    for profile in ("smoke", "standard", "nightly"):
        rc, out, err = _run(["spec", "check", profile], monkeypatch, capsys)
        assert rc == 0, err


def test_bare_tradeswarm_prints_its_usage_readably(monkeypatch, capsys):
    rc, _, err = _run([], monkeypatch, capsys)
    assert rc == 2 and err.startswith("Usage: tradeswarm") and "certify" in err and err.count("\n") > 10
