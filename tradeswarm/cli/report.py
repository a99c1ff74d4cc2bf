"""`tradeswarm report RUN_DIR`: re-render a run directory from its results.json."""

from __future__ import annotations

from pathlib import Path

import click

from tradeswarm.cli._common import EXIT_OK, UsageError, command, emit, json_option, table


@command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--index/--no-index", "with_index", default=False,
              help="Also rewrite the runs index (index.md) of the folder holding RUN_DIR: next to that "
                   "folder when it is named runs (reports/index.md), else inside it.")
@json_option
def report(run_dir: Path, with_index: bool, as_json: bool) -> int:
    """Re-render report.md, junit.xml and charts of RUN_DIR from its results.json.

    Reads results.json (and samples.json when present) written by `tradeswarm certify`;
    never changes them. A missing directory or a broken results.json is exit code 2.

    Example: `tradeswarm report reports/runs/20261127-220513-standard-a41f`
    """
    from reports import RunDirError, load_run, render, summary_rows, update_index

    try:
        results, samples = load_run(run_dir)
    except RunDirError as e:
        raise UsageError(str(e)) from None
    written = render(results, run_dir, samples=samples)
    if with_index:
        written += update_index(run_dir.resolve().parent)
    document = {
        "run_dir": str(run_dir),
        "run_id": results.get("run_id"),
        "verdict": results.get("verdict"),
        "readiness_score": results.get("readiness_score"),
        "files": [str(p) for p in written],
    }
    score = results.get("readiness_score")
    head = f"{results.get('verdict', '?')}  readiness {score:.1f}/100" if isinstance(score, (int, float)) else str(results.get("verdict", "?"))
    emit(as_json, document, lambda: "\n".join([head, "", table(summary_rows(results)), "", f"report: {run_dir / 'report.md'}"]))
    return EXIT_OK
