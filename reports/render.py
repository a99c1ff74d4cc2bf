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

SCHEMA = "tradeswarm.certification/v1"


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


def load_run(run_dir: Path) -> tuple[dict, dict | None]:
    """results.json (checked to be a certification result) and samples.json if present."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory not found: {run_dir}")
    rf = run_dir / "results.json"
    if not rf.is_file():
        raise RunDirError(f"no results.json in {run_dir}")
    results = _read_json(rf)
    if not isinstance(results, dict):
        raise RunDirError(f"{rf} is not a JSON object")
    if results.get("schema") != SCHEMA:
        raise RunDirError(f"{rf} has schema {results.get('schema')!r}, expected {SCHEMA!r}")
    problem = _verdict_fields_problem(results)
    if problem:  # a verdict is never rendered from a results.json that does not hold one
        raise RunDirError(f"{rf}: {problem}")
    sf = run_dir / "samples.json"
    samples = _read_json(sf) if sf.is_file() else None
    if samples is not None and not isinstance(samples, dict):
        raise RunDirError(f"{sf} is not a JSON object")
    return results, samples


_VERDICTS = ("CERTIFIED", "CONDITIONAL", "NOT_CERTIFIED")
_JSON_KIND = {str: "a string", int: "a number", float: "a number", bool: "a boolean", dict: "an object", list: "a list"}


def _verdict_fields_problem(results: dict) -> str | None:
    """The first field the verdict is built from that is missing or of the wrong shape, if any."""
    if results.get("verdict") not in _VERDICTS:
        return f"verdict {results.get('verdict')!r} is not one of {', '.join(_VERDICTS)}"
    score = results.get("readiness_score")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        return f"readiness_score {score!r} is not a number"
    checks = results.get("checks")
    if not isinstance(checks, list):
        return f"checks is {_JSON_KIND.get(type(checks), 'missing')}, expected a list of checks"
    for i, c in enumerate(checks):
        if not (isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(c.get("status"), str)):
            return f"checks[{i}] is not a check (an object with a string id and status)"
    if not isinstance(results.get("categories"), list):
        return "categories is missing or not a list"
    return None


def render(results: dict, run_dir: Path, *, samples: dict | None = None) -> list[Path]:
    """Write report.md, junit.xml and charts into `run_dir`; return the paths written."""
    run_dir = Path(run_dir)
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
