"""The environment section: the run's identity, machine, versions, stage timings and result cache."""

from __future__ import annotations

from reports._format import DASH, code, esc, fmt_int, fmt_keyed, fmt_seconds, fmt_time, kv_table, table
from reports.sections._common import missing, reported, section
from validation.evidence import Results, RunCache


def _cache(cache: RunCache) -> str:
    """Which research results this run computed and which it was served from the cache, from which run."""
    head = f"Result cache (key: inputs, data files, library versions, code SHA-256 {code(cache.code_sha256 or DASH)})"
    if not cache.enabled:
        head += f": not used ({esc(cache.reason or 'disabled')})"
    elif cache.refresh:
        head += ": refreshed (`--no-cache`), every result computed in this run"
    rows = ([esc(k), fmt_int(v.computed), fmt_int(v.cached)] for k, v in cache.stages.items())
    lines = table(["stage", "computed", "served from cache"], rows, "lrr") if cache.stages else missing("cached stages")
    if cache.served:
        lines += "\n\nServed from the cache:\n\n" + table(
            ["stage", "item", "computed by run", "code SHA-256"],
            ([esc(s.stage), esc(s.item), code(s.from_run), code(str(s.code_sha256)[:12])] for s in cache.served), "llll")
    else:
        lines += "\n\nnothing served from the cache: every result above was computed in this run."
    return f"{head}:\n\n{lines}"


def environment(results: Results) -> str:
    pairs = [
        ("run", code(results.run_id or DASH)),
        ("profile", code(results.profile or DASH)),
        ("provider", code(results.provider or DASH)),
        ("started", fmt_time(results.started_at)),
        ("finished", fmt_time(results.finished_at)),
        ("git SHA", code(results.git_sha or DASH)),
        ("inputs SHA-256", code(results.inputs_sha256 or DASH)),
        ("seed", code(results.seed) if results.seed is not None else DASH),
    ]
    blocks = [kv_table(pairs)]
    blocks.append(
        "Machine:\n\n" + table(["", "value"], ([esc(k), esc(fmt_keyed(str(k), v))] for k, v in results.machine.items()), "ll")
        if results.machine
        else missing("machine description")
    )
    blocks.append(
        "Versions:\n\n" + table(["component", "version"], ([esc(k), code(v)] for k, v in results.versions.items()), "ll")
        if results.versions
        else missing("versions")
    )
    if results.stages:
        # the parallel branches of a stage, each timed on its own
        parts = [(f"{k} (one after the other, within deploy+research)", v) for k, v in results.stage_parts.items()]
        rows = [*results.stages.items(), *parts]
        blocks.append("Stage timings:\n\n" + table(["stage", "time"], ([esc(k), fmt_seconds(v)] for k, v in rows), "lr"))
    if reported(results.cache):
        blocks.append(_cache(results.cache))
    return section("Environment", *blocks)
