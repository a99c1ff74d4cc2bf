"""The stress ledger: every task id at submission and every final state, in SQLite (WAL).

Accounting is *counted* from the ledger by SQL, never assumed from the engine's own counters:

- `planned`: every task id the run intended to submit (written before the first submission);
- `submissions`: a row when a task is handed to the coordinator;
- `outcomes`: a row per final state reported (completed | failed | timed_out). There is no
  unique key on purpose: a task finishing twice must show up as `duplicated`, not be hidden.

Per task, its state is its *first* outcome; `lost` = submitted without any outcome, `duplicated`
= tasks with more than one outcome, `not_submitted` = planned but never submitted (an abort),
`orphaned` = outcomes for ids never submitted. `submitted == completed + failed + timed_out + lost`
holds by construction of the SQL, so a crash or a bug shows as `lost`, never as a wrong sum.
A crashed run can be read afterwards with `Ledger.open_existing(path).counts()`.

>>> import tempfile, pathlib
>>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.db") as led:
...     led.plan(["a", "b"]); led.submitted("a", "signal"); led.finished("a", "completed")
...     led.counts()["submitted"], led.counts()["completed"], led.counts()["not_submitted"]
(1, 1, 1)
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

FINAL_STATES = ("completed", "failed", "timed_out")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS planned (task_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS phases (task_id TEXT PRIMARY KEY, phase TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    task_id TEXT NOT NULL, kind TEXT NOT NULL, intended_s REAL, submitted_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, state TEXT NOT NULL,
    finished_s REAL NOT NULL, agent_id TEXT, attempts INTEGER, latency_ms REAL,
    service_ms REAL, error_class TEXT);
CREATE INDEX IF NOT EXISTS outcomes_task ON outcomes(task_id);
CREATE INDEX IF NOT EXISTS submissions_task ON submissions(task_id);
"""

# One row per submitted task with its first outcome's state and its number of outcomes.
_PER_TASK = """
WITH s AS (SELECT DISTINCT task_id FROM submissions),
     o AS (SELECT task_id, COUNT(*) AS n, MIN(seq) AS first FROM outcomes GROUP BY task_id)
SELECT s.task_id, COALESCE(o.n, 0) AS n, (SELECT state FROM outcomes WHERE seq = o.first) AS state
FROM s LEFT JOIN o ON o.task_id = s.task_id
"""

_COUNTS = f"""
WITH t AS ({_PER_TASK})
SELECT
  (SELECT COUNT(*) FROM t),
  (SELECT COUNT(*) FROM t WHERE state = 'completed'),
  (SELECT COUNT(*) FROM t WHERE state = 'failed'),
  (SELECT COUNT(*) FROM t WHERE state = 'timed_out'),
  (SELECT COUNT(*) FROM t WHERE n = 0),
  (SELECT COUNT(*) FROM t WHERE n > 1),
  (SELECT COUNT(*) FROM planned WHERE task_id NOT IN (SELECT task_id FROM submissions)),
  (SELECT COUNT(*) FROM planned),
  (SELECT COUNT(DISTINCT task_id) FROM outcomes
     WHERE task_id NOT IN (SELECT task_id FROM submissions)),
  (SELECT COUNT(*) FROM submissions) - (SELECT COUNT(DISTINCT task_id) FROM submissions)
"""
# The same counts restricted to one phase's tasks: the CTEs shadow the tables of that name.
_IN_PHASE = "task_id IN (SELECT task_id FROM main.phases WHERE phase = :phase)"
_PHASE_COUNTS = (f"WITH submissions AS (SELECT * FROM main.submissions WHERE {_IN_PHASE}), "
                 f"outcomes AS (SELECT * FROM main.outcomes WHERE {_IN_PHASE}), "
                 f"planned AS (SELECT * FROM main.planned WHERE {_IN_PHASE}), "
                 + _COUNTS.strip().removeprefix("WITH "))
_COUNT_KEYS = ("submitted", "completed", "failed", "timed_out", "lost", "duplicated",
               "not_submitted", "planned", "orphaned", "resubmitted")


def finished_tasks(path: str | Path) -> int:
    """Tasks with a final state in a ledger another process may still be writing (0 when
    there is none yet): opened read-only, so a progress poll can never create or alter it."""
    try:
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return 0
    try:
        return int(db.execute("SELECT COUNT(DISTINCT task_id) FROM outcomes").fetchone()[0])
    except sqlite3.Error:  # not yet written, or its schema not yet there
        return 0
    finally:
        db.close()


def current_phase(path: str | Path) -> str | None:
    """The phase a run another process (or thread) is writing is in, read-only; None before
    it starts (what an outside fault waits on to strike in the chaos phase)."""
    try:
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'phase'").fetchone()
        return json.loads(row[0]) if row else None
    except sqlite3.Error:  # not yet written, or its schema not yet there
        return None
    finally:
        db.close()


class Ledger:
    """Append-only record of one stress run (or one shard of it) in a SQLite WAL file."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise FileNotFoundError(f"no ledger at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: every statement commits on its own, so a crash loses nothing
        # that was acknowledged; WAL + synchronous=NORMAL keeps that at ~tens of µs per write.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open_existing(cls, path: str | Path) -> "Ledger":
        """Open a ledger written earlier (e.g. by a crashed run) for inspection."""
        return cls(path, create=False)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_meta(self, **values: Any) -> None:
        """Store run facts (spec, seed, start/finish, abort reason) as JSON values."""
        self._db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                             [(k, json.dumps(v, default=str)) for k, v in values.items()])

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def plan(self, task_ids: Iterable[str], phase: str | None = None) -> None:
        """Record every task id the run means to submit (and its phase), in one transaction."""
        task_ids = list(task_ids)
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO planned(task_id) VALUES (?)",
                                 [(t,) for t in task_ids])
            if phase is not None:
                self._db.executemany("INSERT OR IGNORE INTO phases(task_id, phase) VALUES (?, ?)",
                                     [(t, phase) for t in task_ids])

    def submitted(self, task_id: str, kind: str, intended_s: float | None = None) -> None:
        self._db.execute("INSERT INTO submissions(task_id, kind, intended_s, submitted_s) "
                         "VALUES (?, ?, ?, ?)", (task_id, kind, intended_s, time.time()))

    def finished(self, task_id: str, state: str, *, agent_id: str | None = None,
                 attempts: int | None = None, latency_ms: float | None = None,
                 service_ms: float | None = None, error_class: str | None = None) -> None:
        if state not in FINAL_STATES:
            raise ValueError(f"unknown final state {state!r}; expected one of {FINAL_STATES}")
        self._db.execute(
            "INSERT INTO outcomes(task_id, state, finished_s, agent_id, attempts, latency_ms, "
            "service_ms, error_class) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id, state, time.time(), agent_id, attempts, latency_ms, service_ms, error_class))

    def counts(self, phase: str | None = None) -> dict[str, int]:
        """Accounting by SQL: submitted, completed, failed, timed_out, lost, duplicated, ...
        (of one phase's tasks when `phase` is given)."""
        row = (self._db.execute(_COUNTS) if phase is None
               else self._db.execute(_PHASE_COUNTS, {"phase": phase})).fetchone()
        return dict(zip(_COUNT_KEYS, (int(v) for v in row)))

    def lost_ids(self, limit: int = 20) -> list[str]:
        return [r[0] for r in self._db.execute(
            f"SELECT task_id FROM ({_PER_TASK}) WHERE n = 0 LIMIT ?", (limit,))]

    def duplicated_ids(self, limit: int = 20) -> list[str]:
        return [r[0] for r in self._db.execute(
            f"SELECT task_id FROM ({_PER_TASK}) WHERE n > 1 LIMIT ?", (limit,))]

    def errors_by_class(self) -> dict[str, int]:
        """Failed and timed-out tasks (first outcome) grouped by error class."""
        rows = self._db.execute(
            "SELECT COALESCE(error_class, state), COUNT(*) FROM outcomes o WHERE seq = "
            "(SELECT MIN(seq) FROM outcomes WHERE task_id = o.task_id) AND state != 'completed' "
            "GROUP BY 1 ORDER BY 2 DESC")
        return {k: int(n) for k, n in rows}

    def by_kind(self) -> dict[str, int]:
        """Submitted tasks per kind (signal, consensus)."""
        return {k: int(n) for k, n in self._db.execute(
            "SELECT kind, COUNT(DISTINCT task_id) FROM submissions GROUP BY kind ORDER BY kind")}

    def merge_from(self, others: Iterable[str | Path]) -> None:
        """Copy the rows of other ledgers (e.g. one per shard) into this one, unchanged."""
        for i, other in enumerate(others):
            alias = f"shard{i}"
            self._db.execute(f"ATTACH DATABASE ? AS {alias}", (str(other),))
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.execute(f"INSERT OR IGNORE INTO planned SELECT * FROM {alias}.planned")
                    self._db.execute(f"INSERT OR IGNORE INTO phases SELECT * FROM {alias}.phases")
                    self._db.execute(f"INSERT INTO submissions SELECT * FROM {alias}.submissions")
                    self._db.execute(
                        "INSERT INTO outcomes(task_id, state, finished_s, agent_id, attempts, "
                        "latency_ms, service_ms, error_class) SELECT task_id, state, finished_s, "
                        f"agent_id, attempts, latency_ms, service_ms, error_class "
                        f"FROM {alias}.outcomes ORDER BY seq")
            finally:
                self._db.execute(f"DETACH DATABASE {alias}")
