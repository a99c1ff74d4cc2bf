"""`tradeswarm spec`: the certification spec's JSON Schema, and validation of a spec file."""

from __future__ import annotations

import json

import click

from tradeswarm.cli._common import UsageError, cli, emit, json_option


@cli.group("spec")
def spec() -> None:
    """Inspect and validate certification specs (profiles: smoke, standard, nightly)."""


@spec.command("schema")
@json_option
def schema(as_json: bool) -> None:
    """Print the JSON Schema of a certification spec file.

    The output is the schema itself (a JSON document) with or without --json.
    """
    from validation.spec import json_schema

    doc = json_schema()
    emit(as_json, doc, lambda: json.dumps(doc, indent=2))


@spec.command("check")
@click.argument("file")
@json_option
def check(file: str, as_json: bool) -> None:
    """Validate FILE (a spec YAML path, or a profile name) and summarise it.

    Unknown keys, bad values and unparsable threshold expressions are reported with the
    key path of each problem, and the command exits with code 2. So is everything a
    certification would only meet at run time (validation.preflight): an unknown template
    on the provider this environment selects, invalid strategy parameters or a sweep with no
    valid combination, symbols or a date window the data does not cover. No service is asked.

    Example: `tradeswarm spec check validation/profiles/smoke.yaml`
    """
    from flows.runinfo import resolve_provider
    from tradeswarm.settings import Settings
    from validation.preflight import preflight
    from validation.spec import SpecError, load_spec

    try:
        s = load_spec(file)
        preflight(s, provider=resolve_provider(s, None, Settings()))
    except SpecError as e:
        raise UsageError(str(e)) from None
    doc = {
        "file": file,
        "valid": True,
        "name": s.name,
        "provider": s.provider,
        "sandboxes": s.sandboxes.count,
        "agents": s.agent_count,
        "datasets": s.data.datasets,
        "backtest_trials": sum(st.trials for st in s.backtest.strategies) * len(s.backtest_symbols),
        "stress_tasks": s.stress.tasks,
        "faults": s.stress.faults.enabled(),
        "sla": {k: [r.expr for r in v] for k, v in s.sla.items()},
        "weights": s.scoring.weights,
        "waivers": len(s.waivers),
    }

    def human() -> str:
        return (
            f"{file}: valid spec {s.name!r} ({s.provider}): {s.sandboxes.count} sandboxes, "
            f"{s.agent_count} agents, {len(s.data.datasets)} datasets, {doc['backtest_trials']} backtest "
            f"trials, {s.stress.tasks} stress tasks, {sum(len(v) for v in s.sla.values())} SLA thresholds"
        )

    emit(as_json, doc, human)
