"""Render a run directory: report.md, junit.xml and charts/*.png from results.json.

results.json (and samples.json beside it) are written by the pipeline; this module only
reads them, so a run can be re-rendered at any time (`tradeswarm report RUN_DIR`).
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from reports._format import REPORT_MODE, esc
from reports.charts import render_charts
from reports.junit import junit_xml
from reports.markdown import markdown_report
from tradeswarm.atomic import atomic_write_text
from validation.evidence import SCHEMA, Results, ResultsError



class RunDirError(ValueError):
    """The run directory or its results.json cannot be rendered (bad input)."""


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """Mask each secret (default: the configured ones) also in the escaped forms the Markdown
    and XML writers produce."""
    from tradeswarm.settings import Settings, mask_secrets

    if secrets is None:
        try:
            secrets = Settings().secret_values()
        except Exception:  # invalid settings: nothing configured that could leak
            secrets = []
    return mask_secrets(text, [f for s in secrets for f in {s, esc(s, limit=10_000), xml_escape(s)}])


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise RunDirError(f"{path} is not UTF-8 text") from None
    except OSError as e:
        raise RunDirError(f"cannot read {path}: {e.strerror or e}") from None


def load_run(run_dir: Path) -> tuple[Results, dict[str, list[float]] | None]:
    """results.json (read as `Results`, holding a verdict) and samples.json if present."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory not found: {run_dir}")
    rf = run_dir / "results.json"
    if not rf.is_file():
        raise RunDirError(f"no results.json in {run_dir}")
    doc = _read_json(rf)
    try:
        results = Results.parse(doc, source=str(rf))
    except ResultsError as e:
        raise RunDirError(str(e)) from None
    if not results.has("schema_"):
        raise RunDirError(f"{rf} has schema None, expected {SCHEMA!r}")
    problem = results.verdict_problem()
    if problem:  # a verdict is never rendered from a results.json that does not hold one
        raise RunDirError(f"{rf}: {problem}")
    sf = run_dir / "samples.json"
    samples = _read_json(sf) if sf.is_file() else None
    if samples is not None and not isinstance(samples, dict):
        raise RunDirError(f"{sf} is not a JSON object")
    return results, samples


def render(results: Results | dict, run_dir: Path, *, samples: dict[str, list[float]] | None = None) -> list[Path]:
    """Write report.md, junit.xml and charts into `run_dir`; return the paths written."""
    run_dir, results = Path(run_dir), Results.parse(results)
    charts = render_charts(results, samples, run_dir / "charts")
    # an error message may quote a key: it must not reach a file
    written = [
        atomic_write_text(run_dir / "report.md", scrub(markdown_report(results, charts=[p.name for p in charts])),
                          mode=REPORT_MODE),
        atomic_write_text(run_dir / "junit.xml", scrub(junit_xml(results)), mode=REPORT_MODE),
    ]
    return written + charts


def render_run(run_dir: Path) -> list[Path]:
    """Re-render a run directory from its results.json (and samples.json if present)."""
    results, samples = load_run(run_dir)
    return render(results, run_dir, samples=samples)
