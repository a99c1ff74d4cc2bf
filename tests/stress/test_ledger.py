"""The ledger counts by SQL: lost and duplicated tasks show up, a crashed run can be read."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tradeswarm.stress.ledger import Ledger


def _ledger(tmp_path, n=10):
    led = Ledger(tmp_path / "ledger.db")
    ids = [f"t{i}" for i in range(n)]
    led.plan(ids)
    return led, ids


def test_clean_run_counts_every_state_once(tmp_path):
    led, ids = _ledger(tmp_path)
    for i, t in enumerate(ids):
        led.submitted(t, "signal")
        led.finished(t, ("completed", "failed", "timed_out")[i % 3], error_class=None if i % 3 == 0 else "X")
    c = led.counts()
    assert (c["submitted"], c["completed"], c["failed"], c["timed_out"]) == (10, 4, 3, 3)
    assert c["lost"] == c["duplicated"] == c["not_submitted"] == c["orphaned"] == 0
    assert c["submitted"] == c["completed"] + c["failed"] + c["timed_out"]
    assert led.errors_by_class() == {"X": 6}


def test_missing_final_state_is_lost_and_second_final_state_is_duplicated(tmp_path):
    led, ids = _ledger(tmp_path)
    for t in ids:
        led.submitted(t, "signal")
    for t in ids[:8]:
        led.finished(t, "completed")
    led.finished("t0", "failed")  # a second final state for t0
    c = led.counts()
    assert c["lost"] == 2 and led.lost_ids() == ["t8", "t9"]
    assert c["duplicated"] == 1 and led.duplicated_ids() == ["t0"]
    # t0 counts once, by its first state: the sum still holds with lost included
    assert c["submitted"] == c["completed"] + c["failed"] + c["timed_out"] + c["lost"]


def test_planned_but_never_submitted_and_orphaned_outcomes(tmp_path):
    led, ids = _ledger(tmp_path)
    for t in ids[:6]:
        led.submitted(t, "consensus")
        led.finished(t, "completed")
    led.finished("ghost", "completed")
    c = led.counts()
    assert c["not_submitted"] == 4 and c["planned"] == 10 and c["orphaned"] == 1
    assert led.by_kind() == {"consensus": 6}


def test_unknown_final_state_is_refused(tmp_path):
    led, _ = _ledger(tmp_path)
    with pytest.raises(ValueError, match="unknown final state"):
        led.finished("t0", "done")


def test_crashed_run_is_inspectable_afterwards(tmp_path):
    path = tmp_path / "crash.db"
    code = textwrap.dedent(f"""
        import os
        from tradeswarm.stress.ledger import Ledger
        led = Ledger({str(path)!r})
        led.plan([f"t{{i}}" for i in range(50)])
        for i in range(50):
            led.submitted(f"t{{i}}", "signal")
            if i < 30:
                led.finished(f"t{{i}}", "completed")
        os._exit(9)  # die without closing anything
    """)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 9
    c = Ledger.open_existing(path).counts()
    assert (c["submitted"], c["completed"], c["lost"]) == (50, 30, 20)


def test_open_existing_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Ledger.open_existing(tmp_path / "nope.db")


def test_merge_of_shard_ledgers_keeps_every_row(tmp_path):
    paths = []
    for s in range(3):
        led = Ledger(tmp_path / f"s{s}.db")
        ids = [f"s{s}-{i}" for i in range(5)]
        led.plan(ids)
        for t in ids:
            led.submitted(t, "signal")
            led.finished(t, "completed")
        led.close()
        paths.append(led.path)
    merged = Ledger(tmp_path / "merged.db")
    merged.merge_from(paths)
    c = merged.counts()
    assert (c["submitted"], c["completed"], c["lost"], c["duplicated"]) == (15, 15, 0, 0)
    merged.merge_from(paths[:1])  # merging a shard twice must show, not vanish
    assert merged.counts()["duplicated"] == 5


def test_counts_per_phase_are_counted_by_sql_and_survive_a_merge(tmp_path):
    from tradeswarm.stress.ledger import current_phase

    assert current_phase(tmp_path / "none.db") is None  # nothing yet, and nothing created
    with Ledger(tmp_path / "a.db") as led:
        led.plan(["s1", "s2"], phase="steady")
        led.plan(["c1", "c2"], phase="chaos")
        led.set_meta(phase="chaos")
        for t in ("s1", "s2", "c1"):
            led.submitted(t, "signal")
        led.finished("s1", "completed")
        led.finished("s2", "completed")
        led.finished("c1", "failed")
        led.finished("c1", "completed")  # a second final state: duplicated, in its phase only
        assert current_phase(tmp_path / "a.db") == "chaos"
        steady, chaos = led.counts("steady"), led.counts("chaos")
    assert (steady["submitted"], steady["completed"], steady["duplicated"]) == (2, 2, 0)
    assert (chaos["submitted"], chaos["failed"], chaos["duplicated"], chaos["not_submitted"]) == (1, 1, 1, 1)
    with Ledger(tmp_path / "m.db") as merged:
        merged.merge_from([tmp_path / "a.db"])
        assert merged.counts("chaos") == chaos and merged.counts("steady") == steady
