"""Writing a finished run: results.json, samples.json, the report files, the index, artifacts,
and the verdict as the flow run's final state (`run_state`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed, State

from reports import REPORT_MODE
from tradeswarm.atomic import atomic_write_text
from tradeswarm.settings import mask_secrets
from validation.evidence import PASSING, Results

LINKED_FILES = (("report", "report.md"), ("results", "results.json"), ("junit", "junit.xml"))


def artifact_key(profile: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return "certification-" + (re.sub(r"[^a-z0-9-]+", "-", profile.lower()).strip("-") or "custom")


def write_json(run_dir: str, name: str, doc: dict) -> Path:
    """One JSON file of the run, secrets masked, readable by analysts (0644)."""
    # an error message may quote a key: masked here as in every other file of the run
    return atomic_write_text(Path(run_dir) / name, mask_secrets(json.dumps(doc, indent=2, default=str)) + "\n",
                             mode=REPORT_MODE)


def write_results(results: Results, run_dir: str) -> list[Path]:
    """Write results.json (once, when the report stage's own time is known), then update the
    runs index that lists it."""
    from reports import update_index

    path = write_json(run_dir, "results.json", results.dump())
    return [path, *update_index(Path(run_dir).parent)]


def export_metrics(results: Results, run_dir: str) -> Path:
    """metrics.prom in the run directory, pushed to the Pushgateway when one is configured
    (`reports.prometheus`); written last, so its stage durations include the report's."""
    from reports.prometheus import export_run

    return export_run(results, run_dir)


@task(name="render-report", cache_policy=NO_CACHE)
def render_files(results: Results, samples: dict, run_dir: str) -> list[str]:
    """Write samples.json and render report.md, junit.xml and the charts."""
    from reports import render

    write_json(run_dir, "samples.json", samples)
    return [str(p) for p in render(results, Path(run_dir), samples=samples)]


def transient(task, task_run, state) -> bool:
    """Retry only what a second attempt can fix: lost connections, timeouts, 429 and 5xx."""
    import httpx

    try:
        state.result()
    except httpx.TransportError:
        return True
    except httpx.HTTPStatusError as e:
        return e.response.status_code == 429 or e.response.status_code >= 500
    except Exception:  # noqa: BLE001 - anything else is a bug a retry would only repeat
        return False
    return False


@task(name="publish-artifacts", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 4, 10],
      retry_condition_fn=transient)
def publish(results: Results) -> None:
    """The report as a Markdown artifact and its key metrics as a table artifact."""
    from reports import markdown_report, summary_rows
    from reports.render import scrub

    key = artifact_key(results.profile)
    # rendered without chart links: the PNGs live in the run directory, not in Prefect's UI
    create_markdown_artifact(key=key, markdown=scrub(markdown_report(results)),
                             description=f"{results.verdict} {results.readiness_score:.1f}/100")
    rows = json.loads(mask_secrets(json.dumps(summary_rows(results))))
    create_table_artifact(key=f"{key}-metrics", table=rows,
                          description=f"key metrics of run {results.run_id}")
    run_dir = Path(results.report_path).absolute().parent
    for suffix, name in LINKED_FILES:
        create_link_artifact(key=f"{key}-{suffix}", link=(run_dir / name).as_uri(), link_text=name,
                             description=f"{name} of run {results.run_id}")


def blocking(results: dict) -> list[str]:
    """The ids of the critical checks that did not pass: any one makes the run NOT_CERTIFIED."""
    return [c.id for c in Results.parse(results).checks if c.critical and c.status not in PASSING]


def run_state(results: dict) -> State:
    """The verdict as the flow run's final state, results.json as its result: NOT_CERTIFIED is
    Failed (so Prefect automations and notifications on failed runs fire), CONDITIONAL is
    Completed named "Conditional", CERTIFIED is Completed.

    >>> run_state({"verdict": "CONDITIONAL", "readiness_score": 80.0, "checks": []}).name
    'Conditional'
    """
    verdict, score = results["verdict"], results.get("readiness_score") or 0.0
    message = f"{verdict}, readiness {score:.1f}/100"
    if verdict == "NOT_CERTIFIED":
        ids = blocking(results)
        why = f"blocking checks: {', '.join(ids)}" if ids else "no critical check failed; readiness below the bar"
        return Failed(message=f"{message}; {why}", data=results)
    if verdict == "CONDITIONAL":
        return Completed(name="Conditional", message=message, data=results)
    return Completed(message=message, data=results)
