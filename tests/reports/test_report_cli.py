"""`tradeswarm report RUN_DIR` end to end: re-renders a run; bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradeswarm.cli._common import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TRADESWARM_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "tradeswarm", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


@pytest.mark.slow
def test_report_renders_a_run_directory_in_a_real_process(run_dir):
    proc = _cli("report", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert proc.stdout.startswith(f"{results['verdict']}  readiness {results['readiness_score']:.1f}/100")
    assert "perf.agent_deploy.p95" in proc.stdout and f"report: {run_dir / 'report.md'}" in proc.stdout
    assert (run_dir / "report.md").read_text(encoding="utf-8").startswith("# Certification report")
    assert (run_dir / "junit.xml").is_file() and (run_dir / "charts" / "stress_latency.png").is_file()
    assert proc.stderr == ""


def test_report_json_prints_one_document(run_dir, capsys):
    assert run_cli(["report", str(run_dir), "--json", "--index"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "NOT_CERTIFIED" and doc["run_id"] == run_dir.name
    names = {Path(f).name for f in doc["files"]}
    assert {"report.md", "junit.xml", "index.md"} <= names
    # the run lives in a folder named runs/: the index sits next to that folder, linking into it
    index = (run_dir.parent.parent / "index.md").read_text(encoding="utf-8")
    assert f"[report](runs/{run_dir.name}/report.md)" in index
    assert not (run_dir.parent / "index.md").exists()


def test_report_does_not_change_results_json(run_dir):
    before = (run_dir / "results.json").read_bytes()
    assert run_cli(["report", str(run_dir)]) == 0
    assert (run_dir / "results.json").read_bytes() == before


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: d / "missing", "run directory not found"),
        (lambda d: (d / "results.json").unlink() or d, "no results.json in"),
        (lambda d: (d / "results.json").write_text("{not json", encoding="utf-8") and d, "is not valid JSON (line 1"),
        (lambda d: (d / "results.json").write_text('{"schema": "other/v9"}', encoding="utf-8") and d, "has schema 'other/v9'"),
        (lambda d: (d / "results.json").write_text("[1, 2]", encoding="utf-8") and d, "is not a JSON object"),
        (lambda d: (d / "samples.json").write_text("{", encoding="utf-8") and d, "samples.json is not valid JSON"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_dir, capsys, setup, message):
    target = setup(run_dir)
    assert run_cli(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (run_dir / "report.md").exists()  # nothing half-written


@pytest.mark.slow
def test_broken_results_in_a_real_process_is_exit_2(tmp_path):
    (tmp_path / "results.json").write_text("{oops", encoding="utf-8")
    proc = _cli("report", str(tmp_path), "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["exit_code"] == 2
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
