"""The agents-and-consensus section: deployment, consensus rounds, the paper portfolio, parity."""

from __future__ import annotations

from reports._format import code, fmt_int, fmt_usd, table
from reports.sections._common import headers, kv, latency_table, missing, reported, rows, section, text
from validation.evidence import Results

AGENT_OPS = ("agent_deploy", "consensus")
AGENT_FIELDS = [
    ("requested", "requested", fmt_int),
    ("deployed", "deployed", fmt_int),
    ("healthy", "healthy", fmt_int),
    ("replaced", "replaced", fmt_int),
    ("deploy_failures", "deploy failures", fmt_int),
]
CONSENSUS_FIELDS = [
    ("rounds", "rounds", fmt_int),
    ("decided", "decided", fmt_int),
    ("holds", "held (no action)", fmt_int),
    ("no_quorum", "no quorum", fmt_int),
    ("vetoed", "vetoed by the risk manager", fmt_int),
    ("errors", "errors", fmt_int),
]
PORTFOLIO_FIELDS = [
    ("orders", "orders", fmt_int),
    ("fills", "fills", fmt_int),
    ("rejected", "rejected", fmt_int),
    ("invariant_violations", "invariant violations", fmt_int),
    ("equity", "equity", fmt_usd),
    ("cash", "cash", fmt_usd),
]
PARITY_COLUMNS = [
    ("strategy", "strategy", text),
    ("symbol", "dataset", text),
    ("bars", "bars", fmt_int),
    ("mismatches", "mismatches", fmt_int),
]


def agents(results: Results) -> str:
    a, consensus, portfolio = results.agents, results.consensus, results.portfolio
    blocks = ["### Agents\n\n" + (kv(a, AGENT_FIELDS) if reported(a) else missing("agent deployment"))]
    if reported(a) and a.by_type:
        blocks.append(table(["agent type", "agents"], ([code(k), fmt_int(v)] for k, v in a.by_type.items()), "lr"))
    blocks.append("### Consensus\n\n" + (kv(consensus, CONSENSUS_FIELDS) if reported(consensus) else missing("consensus")))
    lat = latency_table(results, AGENT_OPS)
    blocks.append("Latencies:\n\n" + lat if lat else missing("deploy and consensus latencies"))
    blocks.append("### Portfolio\n\n" + (kv(portfolio, PORTFOLIO_FIELDS) if reported(portfolio) else missing("portfolio")))
    blocks.append(
        "### Live/backtest parity\n\n"
        + (table(headers(PARITY_COLUMNS), rows(results.parity, PARITY_COLUMNS), "llrr") if results.parity else missing("parity"))
    )
    return section("Agents and consensus", *blocks)
