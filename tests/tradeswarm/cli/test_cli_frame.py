"""The CLI frame: bad input is one line and exit 2 (JSON error document with --json), help lists every group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args, env=None):
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tradeswarm", *args], capture_output=True, text=True, env=e, cwd=ROOT, timeout=120)


def test_cli_bad_flag_is_one_line_exit_2_and_json_error_document():
    r = _cli("--no-such-flag")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tradeswarm: error:")
    assert "Traceback" not in r.stderr
    r = _cli("no-such-command", "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout)["exit_code"] == 2


def test_cli_help_lists_every_command_group():
    r = _cli("--help")
    assert r.returncode == 0
    for name in ("certify", "report", "create", "backtest", "stress", "spec", "deploy"):
        assert name in r.stdout
