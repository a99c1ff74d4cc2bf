"""`tradeswarm report RUN_DIR` (re-render a run directory from its results.json) and
`tradeswarm results schema` (the JSON Schema results.json follows)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tradeswarm.cli._common import EXIT_OK, UsageError, cli, command, emit, json_option, table


@command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--index/--no-index", "with_index", default=False,
              help="Also rewrite the runs index (index.md) of the folder holding RUN_DIR: next to that "
                   "folder when it is named runs (reports/index.md), else inside it.")
@json_option
def report(run_dir: Path, with_index: bool, as_json: bool) -> int:
    """Re-render report.md, junit.xml and charts of RUN_DIR from its results.json.

    Reads results.json (and samples.json when present) written by `tradeswarm certify`;
    never changes them. A results.json written before typed evidence (no `version`) renders
    too. A missing directory or a broken results.json is exit code 2.

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
        "run_id": results.run_id,
        "verdict": results.verdict,
        "readiness_score": results.readiness_score,
        "files": [str(p) for p in written],
    }
    head = f"{results.verdict}  readiness {results.readiness_score:.1f}/100"  # load_run refuses a run without them
    emit(as_json, document, lambda: "\n".join([head, "", table(summary_rows(results)), "", f"report: {run_dir / 'report.md'}"]))
    return EXIT_OK


@cli.group("results")
def results_group() -> None:
    """What results.json holds (docs/contracts.md §6)."""


@results_group.command("schema")
@json_option
def schema(as_json: bool) -> int:
    """Print the JSON Schema of results.json (validation.evidence.Results).

    It is one JSON document with or without `--json` (the flag is accepted like on every command).
    Example: `tradeswarm results schema > results.schema.json`
    """
    from validation.evidence import results_schema

    doc = results_schema()
    emit(as_json, doc, lambda: json.dumps(doc, indent=2))
    return EXIT_OK
