"""The names a spec may use: score categories, check-id prefixes, the metrics an `sla` entry may name."""

from __future__ import annotations

CATEGORIES = ("functionality", "performance", "cost", "reliability", "documentation")
# every check id starts with one of these (validation.checks, validation.docs_check, validation.history)
CHECK_PREFIXES = ("func", "perf", "rel", "cost", "doc")

# The metrics an `sla` entry may name: where the judge reads them and which category they score in.
LATENCY_OPS = (
    "sandbox_create", "sandbox_exec", "sandbox_status", "sandbox_kill", "sandbox_write",
    "sandbox_read", "agent_deploy", "task", "consensus",
    # the stress engine's open-loop latencies, timed from each task's intended start
    "stress_task", "stress_service", "stress_signal", "stress_consensus",
    "mcp_call",  # one tool call through the MCP server (tasks/mcp.py)
)
# The stress rates are the steady-state phase's, where nothing is injected (tradeswarm.stress.engine).
SCALAR_METRICS = {  # name: (category, evidence path, dimension allowed besides a bare number)
    "success_rate": ("reliability", "stress.phases.steady.success_rate", "ratio"),
    "error_rate": ("reliability", "stress.phases.steady.error_rate", "ratio"),
    "throughput_per_s": ("performance", "stress.phases.steady.throughput_per_s", None),
}
