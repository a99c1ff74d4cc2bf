"""The sandboxes section: the run's sandbox books, lifecycle errors and latencies."""

from __future__ import annotations

from reports._format import esc, fmt_int, kv_table
from reports.sections._common import kv_pairs, latency_table, missing, section, yes_no
from validation.evidence import Results, SandboxEvidence

SANDBOX_FIELDS = [
    ("created", "created", fmt_int),
    ("killed", "killed", fmt_int),
    ("leaked", "leaked (sandbox layer)", fmt_int),
    ("create_failures", "create failures", fmt_int),
    ("lifecycle_ok", "full lifecycle worked", yes_no),
]


def sandboxes(results: Results) -> str:
    sb = results.sandboxes or SandboxEvidence()
    ops = sorted(op for op in results.latency if op.startswith("sandbox_"))
    pairs = kv_pairs(sb, SANDBOX_FIELDS)
    if results.has("sandboxes_leaked"):
        pairs.append(("leaked at the end of the run", fmt_int(results.sandboxes_leaked)))
    summary = kv_table(pairs) if pairs else ""
    lat = latency_table(results, ops)
    return section(
        "Sandboxes",
        summary or missing("sandbox lifecycle counts"),
        ("Errors:\n\n" + "\n".join(f"- {esc(e)}" for e in sb.errors)) if sb.errors else None,
        "Lifecycle latencies (CI: bootstrap 95% confidence interval of the percentile):\n\n" + lat if lat else missing("sandbox latencies"),
    )
