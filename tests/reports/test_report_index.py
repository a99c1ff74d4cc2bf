"""The runs index lists every run, newest first, and survives two runs finishing at once."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time

from reports import render_run, update_index
from reports.index import INDEX_NAME, TREND_NAME, index_lock


def _make_run(root, results, run_id, started, score, verdict, profile="standard"):
    d = root / run_id
    d.mkdir(parents=True)
    r = dict(results, run_id=run_id, started_at=started, readiness_score=score, verdict=verdict, profile=profile)
    (d / "results.json").write_text(json.dumps(r), encoding="utf-8")
    return d


def test_index_lists_runs_newest_first_with_verdict_and_link(tmp_path, results):
    _make_run(tmp_path, results, "run-a", "2026-11-25T02:00:00Z", 91.5, "CERTIFIED")
    _make_run(tmp_path, results, "run-b", "2026-11-26T02:00:00Z", 80.25, "CONDITIONAL", profile="nightly")
    render_run(tmp_path / "run-b")
    written = update_index(tmp_path)
    assert {p.name for p in written} == {INDEX_NAME, TREND_NAME}
    md = (tmp_path / INDEX_NAME).read_text(encoding="utf-8")
    lines = [ln for ln in md.splitlines() if ln.startswith("| 2026")]
    assert "`run-b`" in lines[0] and "`nightly`" in lines[0] and "80.2" in lines[0] and "[report](run-b/report.md)" in lines[0]
    assert "`run-a`" in lines[1] and "91.5" in lines[1] and "no report" in lines[1]
    assert "![readiness trend](index_trend.png)" in md


def test_a_broken_run_is_listed_not_dropped(tmp_path, results):
    _make_run(tmp_path, results, "run-a", "2026-11-25T02:00:00Z", 91.5, "CERTIFIED")
    (tmp_path / "run-x").mkdir()
    (tmp_path / "run-x" / "results.json").write_text("{broken", encoding="utf-8")
    (tmp_path / "not-a-run").mkdir()
    update_index(tmp_path)
    md = (tmp_path / INDEX_NAME).read_text(encoding="utf-8")
    assert "`run-x`" in md and "unreadable results.json" in md and "not-a-run" not in md


def test_empty_root_says_no_runs(tmp_path):
    update_index(tmp_path)
    assert "No runs yet." in (tmp_path / INDEX_NAME).read_text(encoding="utf-8")
    assert not (tmp_path / TREND_NAME).exists()


def test_update_waits_for_the_lock(tmp_path, results):
    _make_run(tmp_path, results, "run-a", "2026-11-25T02:00:00Z", 91.5, "CERTIFIED")
    done = threading.Event()
    with index_lock(tmp_path):
        t = threading.Thread(target=lambda: (update_index(tmp_path), done.set()))
        t.start()
        time.sleep(0.5)
        assert not done.is_set()  # blocked while another writer holds the lock
    t.join(timeout=30)
    assert done.is_set() and (tmp_path / INDEX_NAME).is_file()


def _finish_run(root: str, run_id: str, results: dict, started: str) -> None:
    from pathlib import Path

    _make_run(Path(root), results, run_id, started, 90.0, "CERTIFIED")
    update_index(Path(root))


def test_two_runs_finishing_at_once_both_appear(tmp_path, results):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_finish_run, args=(str(tmp_path), f"run-{i}", results, f"2026-11-2{i}T02:00:00Z")) for i in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    md = (tmp_path / INDEX_NAME).read_text(encoding="utf-8")
    assert "`run-1`" in md and "`run-2`" in md
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
