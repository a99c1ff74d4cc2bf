"""The runs index: `index.md` and `index_trend.png` listing every run of a runs root.

The index sits next to the `runs/` folder it lists: `reports/index.md` for the default
`reports/runs/<run-id>/`. A runs root with another name (`--out DIR` puts a run wherever the
user asks) gets its index inside it, beside the run directories — never above a folder the
user did not name.

Two certifications may finish at the same moment and both update the index: an exclusive
`flock` on `.index.lock` in the runs root serialises the updates, and each file is written
atomically, so a reader sees the old index or the new one and never loses a run.
"""

from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from pydantic import BaseModel, ConfigDict, Field

from reports._format import DASH, REPORT_MODE, code, esc, fmt_score, fmt_time, is_number, table
from reports.sections.header import VERDICT_MARK
from tradeswarm.atomic import atomic_write_text
from validation.evidence.results import RunSpec

INDEX_NAME = "index.md"
TREND_NAME = "index_trend.png"
LOCK_NAME = ".index.lock"


@contextmanager
def index_lock(runs_root: Path) -> Iterator[None]:
    """Hold the runs root's index lock (blocking) for the duration of the block."""
    runs_root.mkdir(parents=True, exist_ok=True)
    with open(runs_root / LOCK_NAME, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def index_dir(runs_root: Path) -> Path:
    """Where the index of `runs_root` is written (see the module docstring)."""
    runs_root = Path(runs_root)
    return runs_root.parent if runs_root.name == "runs" else runs_root


class RunListing(BaseModel):
    """One run directory as the index lists it: its identity and outcome, or why it cannot be read."""

    model_config = ConfigDict(extra="ignore")

    dir: str
    error: Optional[str] = None
    run_id: Optional[str] = None
    started_at: Optional[str] = None
    profile: Optional[str] = None
    provider: Optional[str] = None
    verdict: Optional[str] = None
    readiness_score: Optional[float] = None
    spec: RunSpec = Field(default_factory=RunSpec)
    has_report: bool = False


def listings(runs_root: Path) -> list[RunListing]:
    """One listing per run directory (a folder holding results.json), oldest first.

    A run whose results.json cannot be read is listed with `error` set, not dropped.
    """
    runs = []
    for d in sorted(p for p in Path(runs_root).iterdir() if p.is_dir()):
        rf = d / "results.json"
        if not rf.is_file():
            continue
        try:
            data = json.loads(rf.read_text(encoding="utf-8"))
            runs.append(RunListing.model_validate({**data, "dir": d.name, "has_report": (d / "report.md").is_file()}))
        except (OSError, ValueError, TypeError) as e:
            runs.append(RunListing(dir=d.name, error=f"unreadable results.json ({type(e).__name__})"))
    runs.sort(key=lambda r: (r.started_at or "", r.dir))
    return runs


def collect_runs(runs_root: Path) -> list[dict]:
    """`listings` as JSON objects (what the MCP server's runs tool answers with)."""
    return [r.model_dump(exclude_unset=True) for r in listings(runs_root)]


def index_markdown(runs: list[RunListing], *, trend: bool, prefix: str = "") -> str:
    """The index page: newest run first; `prefix` is the runs root relative to the index."""
    lines = ["# Certification runs", ""]
    if not runs:
        return "\n".join(lines + ["No runs yet.", ""])
    if trend:
        lines += ["![readiness trend](index_trend.png)", ""]
    rows = []
    for r in reversed(runs):
        if r.error:
            rows.append([DASH, code(r.dir), DASH, esc(r.error), DASH, DASH])
            continue
        verdict = r.verdict or DASH
        link = f"[report]({prefix}{r.dir}/report.md)" if r.has_report else "no report"
        rows.append(
            [
                fmt_time(r.started_at),
                code(r.run_id or r.dir),
                code(r.profile or DASH),
                f"{VERDICT_MARK.get(verdict, '❔')} {esc(verdict)}",
                fmt_score(r.readiness_score) if is_number(r.readiness_score) else DASH,
                link,
            ]
        )
    lines.append(table(["date", "run", "profile", "verdict", "score", "report"], rows, "llllrl"))
    return "\n".join(lines) + "\n"


def update_index(runs_root: Path) -> list[Path]:
    """Rewrite `index.md` (and the trend chart) of `runs_root` from its run directories."""
    from reports.charts import score_bands, trend_chart

    runs_root = Path(runs_root)
    where = index_dir(runs_root)
    prefix = "" if where == runs_root else f"{runs_root.name}/"
    with index_lock(runs_root):
        runs = listings(runs_root)
        ok = [r for r in runs if not r.error]
        bands = score_bands(ok[-1].spec.scoring) if ok else None
        trend_path = where / TREND_NAME
        has_trend = trend_chart(ok, trend_path, bands)
        if not has_trend and trend_path.exists():
            trend_path.unlink()
        written = [atomic_write_text(where / INDEX_NAME, index_markdown(runs, trend=has_trend, prefix=prefix),
                                     mode=REPORT_MODE)]
        return written + ([trend_path] if has_trend else [])
