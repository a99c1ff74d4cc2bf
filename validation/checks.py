"""Checks: each measured figure of the evidence against its threshold, with a status that cannot lie.

A check reads one place of the evidence. When that place is absent the status is `nodata`,
which scores as a failure; a value of the wrong type is `error`. Statuses: `pass`, `fail`,
`warn` (within the bound but past an alert level), `marginal` (the value's 95 % confidence
interval straddles the bound: scored as passed, but a critical one caps the verdict at
CONDITIONAL; validation.thresholds.judge_interval), `nodata`, `error`, `waived` (a measured
failure accepted by an active waiver; missing evidence can never be waived).

A check's `evidence` is a pointer into the run's `results.json` (`lookup(results, evidence)`
finds the judged value or the entry it came from, e.g. `latency.sandbox_create.p95`,
`backtests[3].gates.dsr`, `cost.savings[0].saved_pct`, `history.regressions[2].change_pct`),
or `file:<path>` for a document checked on disk.

Which category holds what (the choice for data quality and backtest validity is ours):

| category | checks |
|---|---|
| functionality | sandbox lifecycle, agent deploy, consensus, portfolio invariants, live/backtest parity, **data contract per dataset**, **backtest cross-check** and coverage — the system computes correct results on correct inputs |
| performance | latency SLAs, throughput, latency regressions against history |
| cost | budget (projection and forecast), cost per 1,000 tasks, savings of each optimization, cost regression |
| reliability | success and error rates, stress accounting, abort, leaked sandboxes, recovery from each injected fault, **backtest validity gates** (DSR, walk-forward, cost stress, lag) — whether the results can be relied on |
| documentation | each operator document the spec requires (validation.docs_check) |

>>> c = threshold_check("perf.x", "performance", "x", "p95 < 5000ms", {"latency": {"x": {"p95": 7000.0}}}, "latency.x.p95", "ms")
>>> c.status, c.observed
('fail', 7000.0)
>>> threshold_check("perf.x", "performance", "x", "p95 < 5000ms", {}, "latency.x.p95", "ms").status
'nodata'
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from validation import thresholds
from validation.evidence import PASSING, STATUSES  # noqa: F401  (re-exported: the statuses' one source)
from validation.spec import LATENCY_OPS, SCALAR_METRICS, Spec

MISSING = object()


@dataclass
class Check:
    """One judged measurement (the results.json `checks[]` entry)."""

    id: str
    category: str
    description: str
    threshold: str
    observed: Any
    unit: str | None
    status: str
    critical: bool
    evidence: str
    details: dict = field(default_factory=dict)
    waiver: dict | None = None

    @property
    def passed(self) -> bool:
        return self.status in PASSING

    @property
    def blocks(self) -> bool:
        """A critical check that did not pass (fail, nodata or error) blocks certification."""
        return self.critical and not self.passed

    @property
    def caps(self) -> bool:
        """A critical check within noise of its bound (`marginal`) allows CONDITIONAL at best."""
        return self.critical and self.status == "marginal"

    def to_dict(self) -> dict:
        return asdict(self)


_PATH = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def lookup(evidence: Any, path: str) -> Any:
    """The value at a dotted path (`a.b[2].c`), or `MISSING`."""
    cur = evidence
    for name, index in _PATH.findall(path):
        if index:
            if not isinstance(cur, list) or int(index) >= len(cur):
                return MISSING
            cur = cur[int(index)]
        elif isinstance(cur, dict) and name in cur:
            cur = cur[name]
        else:
            return MISSING
    return cur


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def judged(value: Any, t: thresholds.Threshold) -> str:
    """Status of one value against a threshold: nodata when absent, error when not a number."""
    if value is MISSING or value is None:
        return "nodata"
    n = _number(value)
    if n is None or n != n:  # NaN is a broken measurement, not a pass
        return "error"
    return "pass" if t.holds(n) else "fail"


def threshold_check(cid: str, category: str, description: str, expr: str, evidence: dict, path: str,
                    unit: str | None, *, critical: bool = False, value: Any = MISSING, details: dict | None = None,
                    ci: Any = None) -> Check:
    """A check of the value at `path` (or `value`, already computed) against `expr`; with `ci`,
    its confidence interval, a value whose interval straddles the bound is `marginal`."""
    t = thresholds.parse(expr)
    v = lookup(evidence, path) if value is MISSING else value
    status = judged(v, t)
    if status in ("pass", "fail") and ci is not None:
        status = thresholds.judge_interval(t, float(v), ci)
    observed = _number(v) if status != "error" else repr(v)
    return Check(cid, category, description, expr, observed, unit, status, critical, path, details or {})


def _flag_check(cid: str, category: str, description: str, evidence: dict, path: str, *, expect: bool = True,
                critical: bool = True, details: dict | None = None) -> Check:
    v = lookup(evidence, path)
    if v is MISSING or v is None:
        status = "nodata"
    elif not isinstance(v, bool):
        status = "error"
    else:
        status = "pass" if v is expect else "fail"
    return Check(cid, category, description, f"== {str(expect).lower()}", v if v is not MISSING else None, None,
                 status, critical, path, details or {})


def _section(evidence: dict, name: str) -> dict:
    v = evidence.get(name)
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list:
    return v if isinstance(v, list) else []


def _pick(d: dict, keys: tuple[str, ...]) -> dict:
    """The entries of `d` named in `keys` that the stage reported (for a check's details)."""
    return {k: d[k] for k in keys if k in d}


# ----------------------------------------------------------------------------- functionality

def functionality_checks(spec: Spec, ev: dict) -> list[Check]:
    sb, agents, cons, pf = (_section(ev, k) for k in ("sandboxes", "agents", "consensus", "portfolio"))
    out = [
        _flag_check("func.sandbox_lifecycle", "functionality",
                    "Sandboxes are created, run commands, report status and are killed (real lifecycle)",
                    ev, "sandboxes.lifecycle_ok", details={"errors": _list(sb.get("errors"))[:5]}),
        threshold_check("func.agent_deploy", "functionality",
                        f"All {spec.agent_count} requested agents are deployed and pass the health handshake",
                        f">= {spec.agent_count}", ev, "agents.healthy", "agents", critical=True,
                        details=_pick(agents, ("requested", "deployed", "deploy_failures", "replaced"))),
    ]
    rounds = _number(cons.get("rounds"))
    out.append(threshold_check(
        "func.consensus", "functionality", "Consensus rounds complete without errors (at least one round held)",
        "== 0", ev, "consensus.errors", "errors", critical=True,
        value=cons.get("errors") if rounds else None,
        details=_pick(cons, ("rounds", "decided", "holds", "no_quorum", "vetoed"))))
    fills = _number(pf.get("fills"))
    out.append(threshold_check(
        "func.portfolio_invariants", "functionality",
        "Portfolio invariant (equity = cash + Σ quantity × price) holds after every fill; needs at least one fill",
        "max <= 0", ev, "portfolio.invariant_violations", "violations", critical=True,
        value=pf.get("invariant_violations") if fills else None,
        details=_pick(pf, ("orders", "fills", "rejected"))))
    out.append(_parity_check(spec, ev))
    out.extend(_data_checks(spec, ev))
    out.extend(_backtest_correctness(spec, ev))
    out.extend(_mcp_checks(ev))
    return out


def _mcp_checks(ev: dict) -> list[Check]:
    """The MCP server (tasks/mcp.py): every tool listed, and sandbox lifecycles through a real client."""
    m = _section(ev, "mcp")
    missing = m.get("missing_tools")
    return [
        threshold_check("func.mcp.tools", "functionality", "The MCP server lists every tool it documents",
                        "== 0", ev, "mcp.missing_tools", "missing tools", critical=True,
                        value=len(missing) if isinstance(missing, list) and m.get("tools") else None,
                        details={"missing": _list(missing)[:20], "errors": _list(m.get("errors"))[:3]}),
        _flag_check("func.mcp.lifecycle", "functionality",
                    "Sandbox lifecycles through a real MCP client (create, exec, status, list, terminate) answer right, nothing left alive",
                    ev, "mcp.lifecycle_ok",
                    details=_pick(m, ("lifecycles", "lifecycles_ok", "leaked", "errors"))),
    ]


def _parity_check(spec: Spec, ev: dict) -> Check:
    rows = ev.get("parity")
    value: Any = None
    details: dict = {}
    if isinstance(rows, list) and rows:
        try:
            value = sum(int(r["mismatches"]) for r in rows)
            details = {"compared": len(rows), "bars": sum(int(r.get("bars", 0)) for r in rows),
                       "mismatched": [f"{r.get('strategy')}/{r.get('symbol')}" for r in rows if r["mismatches"]][:10]}
            # an agent that died before the comparison leaves no row: its parity was not shown
            seen = {(r.get("strategy"), r.get("symbol")) for r in rows if int(r.get("bars", 0)) > 0}
            missing = sorted(f"{t}/{s}" for t, s in {(a.type, s) for a in spec.agents for s in a.symbols} - seen)
            if missing:
                details["not_compared"] = missing[:10]
                value = value or None  # mismatches still fail; otherwise the evidence is incomplete
        except (KeyError, TypeError, ValueError):
            value = "malformed parity evidence"
    return threshold_check("func.parity", "functionality",
                           "Live agents of every deployed strategy and symbol give the backtests' signal on every compared bar",
                           "== 0", ev, "parity", "mismatches", critical=True, value=value, details=details)


def _data_checks(spec: Spec, ev: dict) -> list[Check]:
    rows = ev.get("data_validation") if isinstance(ev.get("data_validation"), list) else []
    by_name = {r["dataset"]: (i, r) for i, r in enumerate(rows) if isinstance(r, dict) and isinstance(r.get("dataset"), str)}
    names = list(dict.fromkeys([*spec.data.datasets, *(n for n in by_name if n)]))
    out = []
    for name in names:
        i, row = by_name.get(name, (None, {}))
        path = f"data_validation[{i}].failed" if i is not None else "data_validation"
        out.append(threshold_check(
            f"func.data.{name}", "functionality",
            f"Dataset {name} passes the data contract (every expectation) before it is used",
            "== 0", ev, path, "failed expectations", critical=True,
            value=row.get("failed") if row else None,
            details={"rows": row.get("rows"), "expectations": row.get("expectations"),
                     "failures": _list(row.get("failures"))[:10]} if row else {}))
    return out


def _backtests(ev: dict) -> list[tuple[int, dict]]:
    """`(index in evidence["backtests"], entry)` of every well-formed backtest entry."""
    rows = ev.get("backtests")
    return [(i, r) for i, r in enumerate(rows) if isinstance(r, dict)] if isinstance(rows, list) else []


def _backtest_correctness(spec: Spec, ev: dict) -> list[Check]:
    indexed = _backtests(ev)
    rows = [r for _, r in indexed]
    agree: Any = None
    details: dict = {}
    path = "backtests"
    if rows:
        checks = [r.get("crosscheck") for r in rows]
        unchecked = [(i, r) for (i, r), c in zip(indexed, checks) if not isinstance(c, dict) or not isinstance(c.get("agree"), bool)]
        if unchecked:
            agree = None  # a configuration without a cross-check: missing evidence
            path = f"backtests[{unchecked[0][0]}]"
            details["unchecked"] = [f"{r.get('strategy')}/{r.get('symbol')}" for _, r in unchecked][:10]
        else:
            bad = [(i, r, c) for (i, r), c in zip(indexed, checks) if not c["agree"]]
            agree = len(bad)
            if bad:
                i, r, c = bad[0]
                path = f"backtests[{i}].crosscheck"
                details["first_disagreement"] = {"strategy": r.get("strategy"), "symbol": r.get("symbol"),
                                                 "params": r.get("params"), "first_divergence": c.get("first_divergence"),
                                                 "equity_rel_diff": c.get("equity_rel_diff")}
            details["compared"] = len(rows)
    # the strategies the deployed agents run, on their symbols (the risk manager included), and
    # those the spec sweeps: the evidence, not the spec, says which of them were backtested
    expected = {(a.type, sym) for a in spec.agents for sym in a.symbols}
    expected |= {(s.name, sym) for s in spec.backtest.strategies for sym in spec.backtest_symbols}
    got = {(str(r.get("strategy")), str(r.get("symbol"))) for r in rows}
    missing = sorted(f"{a}/{b}" for a, b in expected - got)
    return [
        threshold_check("func.backtest.crosscheck", "functionality",
                        "Every reported backtest agrees trade for trade with the independent reference simulator",
                        "== 0", ev, path, "disagreements", critical=True, value=agree, details=details),
        threshold_check("func.backtest.coverage", "functionality",
                        "Every strategy a deployed agent runs, and every one the spec sweeps, was backtested on its symbols",
                        "== 0", ev, "backtests", "missing", value=len(missing) if rows else None,
                        details={"expected": len(expected), "missing": missing[:20]}),
    ]


# ----------------------------------------------------------------------------- SLA (performance + rates)

def sla_checks(spec: Spec, ev: dict) -> list[Check]:
    out = []
    for metric, rules in spec.sla.items():
        for rule in rules:
            t = rule.threshold
            if metric in LATENCY_OPS:
                out.append(_latency_check(metric, rule.expr, t, rule.critical, ev))
            else:
                category, path, _ = SCALAR_METRICS[metric]
                prefix = "perf" if category == "performance" else "rel"
                unit = "tasks/s" if metric == "throughput_per_s" else "ratio"
                ci = _rate_ci(ev, metric, path)
                out.append(threshold_check(f"{prefix}.{metric}", category, f"{metric.replace('_', ' ')} {rule.expr}",
                                           rule.expr, ev, path, unit, critical=rule.critical, ci=ci,
                                           details={"ci": ci} if ci else None))
    return out


def _latency_check(op: str, expr: str, t: thresholds.Threshold, critical: bool, ev: dict) -> Check:
    agg = "mean" if t.aggregate == "avg" else t.aggregate
    root = "latency"
    stats = lookup(ev, f"latency.{op}")
    if stats is MISSING and lookup(ev, f"stress.latency.{op}") is not MISSING:  # the stress engine's own summary
        root, stats = "stress.latency", lookup(ev, f"stress.latency.{op}")
    cid, path = f"perf.{op}.{agg}", f"{root}.{op}.{agg}"
    description = f"{op.replace('_', ' ')} latency {expr}"
    details: dict = {}
    if isinstance(stats, dict):
        details = _pick(stats, ("count", "p50", "p95", "p99", "max", f"{agg}_ci"))
        if agg in _list(stats.get("insufficient")):  # too few samples to support this percentile
            slowest = _number(stats.get("max"))
            if t.op in ("<", "<=") and slowest is not None and t.holds(slowest):
                # any percentile is at most the slowest sample: an upper bound the max meets holds
                details["reason"] = (f"only {stats.get('count')} samples, too few to estimate {agg}; "
                                     f"the slowest ({slowest:.1f} ms) already meets the bound")
                return Check(cid, "performance", description, expr, slowest, "ms", "pass", critical,
                             f"{root}.{op}.max", details)
            details["reason"] = f"too few samples ({stats.get('count')}) to support {agg}"
            return Check(cid, "performance", description, expr, None, "ms", "nodata", critical, path, details)
        if agg != "count" and not _number(stats.get("count")):
            details["reason"] = "no samples recorded"
            return Check(cid, "performance", description, expr, None, "ms", "nodata", critical, path, details)
    return threshold_check(cid, "performance", description, expr, ev, path, "count" if agg == "count" else "ms",
                           critical=critical, details=details,
                           ci=stats.get(f"{agg}_ci") if isinstance(stats, dict) else None)


# rate → the task counts its denominator sums (tradeswarm.stress.engine.accounting)
_RATE_TRIALS = {"success_rate": ("submitted",), "error_rate": ("completed", "failed", "timed_out")}


def _rate_ci(ev: dict, metric: str, path: str) -> list[float] | None:
    """Wilson 95 % interval of a rate over the task count beside it (None for other metrics)."""
    rate, section = lookup(ev, path), lookup(ev, path.rsplit(".", 1)[0])
    if metric not in _RATE_TRIALS or _number(rate) is None or not isinstance(section, dict):
        return None
    counts = [_number(section.get(k)) for k in _RATE_TRIALS[metric]]
    if any(n is None for n in counts):
        return None
    n = sum(counts)
    return thresholds.wilson_interval(min(max(_number(rate), 0.0), 1.0) * n, n)


# ----------------------------------------------------------------------------- reliability

# spec fault name → the kind the stress engine reports (tradeswarm.stress.faults.FAULT_KINDS)
_FAULT_KINDS = {
    "kill_sandboxes": "kill-sandbox",
    "fail_rate": "answer-fail",
    "latency": "latency",
    "create_failures": "create-fail",
    "rate_limit": "rate-limit",
}


def reliability_checks(spec: Spec, ev: dict) -> list[Check]:
    st = _section(ev, "stress")
    out = [_accounting_check(spec, ev, st),
           _flag_check("rel.stress.not_aborted", "reliability", "The stress test ran to the end (the abort rule did not fire)",
                       ev, "stress.aborted", expect=False, details={"abort_reason": st.get("abort_reason")}),
           threshold_check("rel.sandboxes.leaked", "reliability", "Every sandbox the run created is gone at the end",
                           "max <= 0", ev, "sandboxes.leaked", "sandboxes", critical=True,
                           details={k: lookup(ev, f"sandboxes.{k}") for k in ("created", "killed")
                                    if lookup(ev, f"sandboxes.{k}") is not MISSING})]
    out.append(_abort_rule_check(spec, ev, st))
    out.extend(_fault_checks(spec, ev, st))
    out.extend(_gate_checks(spec, ev))
    return out


def _accounting_check(spec: Spec, ev: dict, st: dict) -> Check:
    keys = ("submitted", "completed", "failed", "timed_out", "lost", "duplicated")
    vals = {k: _number(st.get(k)) for k in keys}
    value: Any = None
    details = {k: v for k, v in vals.items() if v is not None}
    if all(v is not None for v in vals.values()):
        unaccounted = vals["submitted"] - (vals["completed"] + vals["failed"] + vals["timed_out"])
        planned = _planned(spec)
        short = 0 if st.get("aborted") else max(0.0, planned - vals["submitted"])
        details.update({"unaccounted": unaccounted, "not_submitted": short, "planned": planned})
        orphaned = _number(st.get("orphaned")) or 0.0  # a final state for a task never submitted
        details["orphaned"] = orphaned
        value = vals["lost"] + vals["duplicated"] + abs(unaccounted) + short + orphaned
    return threshold_check("rel.stress.accounting", "reliability",
                           "Every stress task ends in exactly one final state (ledger: none lost, none duplicated)",
                           "== 0", ev, "stress", "tasks", critical=True,
                           value=value, details=details)


def _planned(spec: Spec) -> int:
    """The stress tasks the spec plans: the steady state, plus chaos and recovery with faults."""
    f = spec.stress.faults
    return spec.stress.tasks + ((f.tasks + f.recovery_tasks) if f.enabled() else 0)


def _abort_rule_check(spec: Spec, ev: dict, st: dict) -> Check:
    """The spec's abort rule replayed on each phase's outcomes (in finish order; one segment
    per engine, `|`-separated for Dask shards): it must have fired exactly when it should."""
    from tradeswarm.stress.config import StressConfig

    rule = StressConfig.of({"abort": spec.stress.abort.model_dump()}).abort
    phases = st.get("phases") if isinstance(st.get("phases"), dict) else {}
    traces = {name: p.get("outcomes") for name, p in phases.items() if isinstance(p, dict)}
    fired, value, details = st.get("aborted"), None, {"rule": rule.model_dump()}
    if traces and all(isinstance(t, str) for t in traces.values()) and isinstance(fired, bool):
        crossed = {name: [rule.fires_at(seg) for seg in t.split("|")] for name, t in traces.items()}
        should = [name for name, at in crossed.items() if any(x is not None for x in at)]
        details.update(should_fire=bool(should), fired=fired, abort_reason=st.get("abort_reason"),
                       crossed={name: at for name, at in crossed.items() if name in should})
        value = int(bool(should) != fired)
        if value:
            details["reason"] = ("the error rate crossed the rule's line but the run went on" if should
                                 else "the run aborted although the error rate never crossed the line")
    return threshold_check("rel.stress.abort_rule", "reliability",
                           "The abort rule fires exactly when the error rate crosses its line (replayed per phase)",
                           "== 0", ev, "stress.phases", "disagreements", critical=True, value=value, details=details)


def _fault_checks(spec: Spec, ev: dict, st: dict) -> list[Check]:
    wanted = spec.stress.faults.enabled()
    if not wanted:
        return [Check("rel.faults", "reliability", "Resilience under injected faults (the spec injects none)",
                      "injected > 0", None, None, "nodata", False, "stress.faults",
                      {"reason": "no fault configured in stress.faults: resilience is not demonstrated"})]
    reported = st.get("faults") if isinstance(st.get("faults"), list) else []
    out = []
    for kind in wanted:
        idx = next((i for i, f in enumerate(reported) if isinstance(f, dict) and f.get("kind") == _FAULT_KINDS[kind]), None)
        f = reported[idx] if idx is not None else {}
        detail = f.get("detail") if isinstance(f.get("detail"), dict) else {}
        injected = f.get("injected")
        injected = float(injected) if isinstance(injected, bool) else _number(injected)  # a flag or a count
        came_up = detail.get("scale_up") or detail.get("provisioning")
        if "error" in detail:
            status, reason = "fail", f"the fault's lever failed: {detail['error']}"
        elif idx is None or not injected:
            status, reason = "nodata", "fault configured but not injected"
        elif isinstance(came_up, dict) and not came_up.get("ok"):
            status, reason = "fail", "no agent came up through the sandbox-server fault"
        else:
            status, reason = "pass", None
        details = {"kind": _FAULT_KINDS[kind], "injected": injected, "cost": f.get("cost"), "params": f.get("params"),
                   "tasks": len(f["tasks"]) if isinstance(f.get("tasks"), list) else None,
                   "at_task": f.get("at_task"), "detail": detail}
        if reason:
            details["reason"] = reason
        picked = len(f["tasks"]) if isinstance(f.get("tasks"), list) else None  # a per-task fault's tasks
        out.append(Check(f"rel.faults.{kind}", "reliability", f"The fault '{kind}' was injected in the chaos phase",
                         "injected", picked if picked is not None else injected,
                         "tasks" if picked is not None else "faults", status, False,
                         f"stress.faults[{idx}]" if idx is not None else "stress.faults", details))
    out += _chaos_checks(spec, ev, st, reported)
    return out


def _chaos_checks(spec: Spec, ev: dict, st: dict, reported: list) -> list[Check]:
    """The resilience checks of the chaos and recovery phases (tradeswarm.stress.engine)."""
    phases = st.get("phases") if isinstance(st.get("phases"), dict) else {}
    chaos, recovery = (p if isinstance(p, dict) else {} for p in (phases.get("chaos"), phases.get("recovery")))
    f = spec.stress.faults
    # every task of the faulted phases has exactly one final state
    value: Any = None
    details: dict = {}
    if chaos and recovery:
        value = 0.0
        for name, p, planned in (("chaos", chaos, f.tasks), ("recovery", recovery, f.recovery_tasks)):
            vals = {k: _number(p.get(k)) or 0.0 for k in ("submitted", "completed", "failed", "timed_out", "lost",
                                                           "duplicated", "orphaned")}
            short = 0.0 if st.get("aborted") else max(0.0, planned - vals["submitted"])
            bad = (vals["lost"] + vals["duplicated"] + vals["orphaned"] + short
                   + abs(vals["submitted"] - vals["completed"] - vals["failed"] - vals["timed_out"]))
            details[name] = {**vals, "not_submitted": short, "unaccounted": bad}
            value += bad
    out = [threshold_check("rel.chaos.final_states", "reliability",
                           "Every task of the chaos and recovery phases reaches exactly one final state",
                           "== 0", ev, "stress.phases.chaos", "tasks", critical=True, value=value, details=details)]
    # tasks stranded on a killed sandbox are re-dispatched and complete; the swarm is back at strength
    if f.kill_sandboxes:
        kills = [(i, r) for i, r in enumerate(reported) if isinstance(r, dict) and r.get("kind") == "kill-sandbox"]
        stranded = [r.get("detail", {}).get("stranded") or {} for _, r in kills]
        tasks = sum(_number(x.get("tasks")) or 0 for x in stranded)
        done = sum(_number(x.get("completed")) or 0 for x in stranded)
        recovered = [bool((r.get("detail", {}).get("recovery") or {}).get("ok")) for _, r in kills]
        details = {"stranded": tasks, "completed": done, "back_at_strength": recovered,
                   "recovery": [r.get("detail", {}).get("recovery") for _, r in kills]}
        value = None
        if not kills or not any(r.get("injected") for _, r in kills):
            details["reason"] = "no sandbox was killed"
        elif not tasks and all(recovered):  # a swarm not back at strength fails, stranded tasks or not
            details["reason"] = "no task was in flight on the killed sandboxes: re-dispatch not demonstrated"
        else:
            value = (tasks - done) + recovered.count(False)
        out.append(threshold_check("rel.chaos.redispatch", "reliability",
                                   "Tasks on a killed sandbox are re-dispatched and complete; the agents are replaced",
                                   "== 0", ev, f"stress.faults[{kills[0][0]}].detail" if kills else "stress.faults",
                                   "tasks", critical=True, value=value, details=details))
    # after the faults end, the latency returns to the steady state's within the bound
    steady = lookup(ev, "latency.stress_task.p95")  # the SLA's figure: the steady state's (stress.latency)
    steady_p95 = _number(steady if steady is not MISSING else lookup(ev, "stress.latency.stress_task.p95"))
    bound = f.recovery_p95_ratio * steady_p95 + f.recovery_slack_ms if steady_p95 is not None else None
    submitted = _number(recovery.get("submitted")) or 0
    p95_all = recovery.get("p95_all_ms")
    details = {"steady_p95_ms": steady_p95, "bound_ms": bound, "recovery_tasks": submitted,
               "completed": recovery.get("completed")}
    status, observed = "nodata", None
    if not recovery or bound is None:
        details["reason"] = "no recovery phase or no steady-state P95 to compare with"
    elif not submitted:
        details["reason"] = "the recovery phase never started (the run aborted before it)"
    elif _number(p95_all) is None:
        status = "fail"
        details["reason"] = (f"{submitted - (_number(recovery.get('completed')) or 0):.0f} of {submitted:.0f} "
                             "recovery tasks did not complete: the P95 is unbounded")
    else:
        observed = float(p95_all)
        status = "pass" if observed <= bound else "fail"
    expr = f"p95 <= {f.recovery_p95_ratio:g} x steady p95 + {f.recovery_slack_ms:g}ms"
    out.append(Check("rel.chaos.recovery_latency", "reliability",
                     "After the faults end, the task latency returns within the bound of the steady state's",
                     expr, observed, "ms", status, True, "stress.phases.recovery.p95_all_ms", details))
    return out


def _wf_degradation(g: dict) -> float | None:
    """Mean in-sample Sharpe minus mean out-of-sample Sharpe (validation.gates.walk_forward)."""
    wf = g.get("walk_forward")
    if not isinstance(wf, dict):
        return None
    if _number(wf.get("degradation")) is not None:
        return float(wf["degradation"])
    is_, oos = _number(wf.get("is_sharpe_mean")), _number(wf.get("oos_sharpe_mean"))
    return is_ - oos if is_ is not None and oos is not None else None


def _lag_kept(r: dict, g: dict, max_drop: float) -> float | None:
    """The lag test as a margin, ≥ 0 when one extra bar of lag costs at most `max_drop` of the
    figure's size: lagged ≥ x − max_drop·|x| for the total return and, when reported, the Sharpe.

    Losing strategies are judged too (a loss that deepens sharply with one bar of delay depends
    on trading at a price it could not have had); the margin is the worse of the two figures.
    """
    total, lagged = _number(r.get("total_return")), _number(g.get("lag_return"))
    if total is None or lagged is None:
        return None
    pairs = [(total, lagged), (_number(r.get("sharpe")), _number(g.get("lag_sharpe")))]
    return min(y - (x - max_drop * abs(x)) for x, y in pairs if x is not None and y is not None)


def _gate_checks(spec: Spec, ev: dict) -> list[Check]:
    gates = spec.backtest.gates
    rows = _backtests(ev)
    # (check name, description, expression, value of one entry, unit, the entry's field the value comes from)
    gate_defs = [
        ("dsr", f"Deflated Sharpe ratio ≥ {gates.dsr_min:g} given every trial counted", f">= {gates.dsr_min!r}",
         lambda r, g: _number(g.get("dsr")), "dsr", "gates.dsr"),
        ("walk_forward", f"Walk-forward: mean Sharpe drops by ≤ {gates.walk_forward_max_degradation:g} out of sample",
         f"<= {gates.walk_forward_max_degradation!r}", lambda r, g: _wf_degradation(g), "degradation", "gates.walk_forward"),
        ("cost_stress", f"Return with fees × {gates.cost_multiplier:g} stays ≥ {gates.cost_stress_min_return:g}",
         f">= {gates.cost_stress_min_return!r}", lambda r, g: _number(g.get("cost_stress_return")), "return",
         "gates.cost_stress_return"),
        ("lag", f"One extra bar of lag costs ≤ {gates.lag_max_drop:.0%} of the return and Sharpe, gain or loss (no look-ahead collapse)",
         ">= 0", lambda r, g: _lag_kept(r, g, gates.lag_max_drop), "margin", "gates.lag_return"),
    ]
    out = []
    for name, description, expr, extract, unit, field_path in gate_defs:
        t = thresholds.parse(expr)
        per, too_few, failed, missing = [], [], [], []
        for i, r in rows:
            label = f"{r.get('strategy')}/{r.get('symbol')}"
            g = r.get("gates") if isinstance(r.get("gates"), dict) else {}
            trades = _number(r.get("trades"))
            if g.get("min_trades_ok") is False or (trades is not None and trades < gates.min_trades):
                too_few.append(label)
                continue
            v = extract(r, g)
            if v is None:
                missing.append(label)
                continue
            per.append((v, i))
            if not t.holds(v):
                failed.append({"config": label, "params": r.get("params"), "value": v})
        if failed:
            status = "fail"
        elif missing or not per:
            status = "nodata"  # a gate not computed, or no configuration with enough trades to judge
        else:
            status = "pass"
        worst, at = (min(per) if t.op in (">", ">=") else max(per)) if per else (None, None)
        out.append(Check(f"rel.backtest.{name}", "reliability", description, f"{'min' if t.op in ('>', '>=') else 'max'} {expr}",
                         worst, unit, status, False, f"backtests[{at}].{field_path}" if per else "backtests",
                         {"evaluated": len(per), "failed": failed[:10], "too_few_trades": too_few[:10],
                          "not_computed": missing[:10], "min_trades": gates.min_trades}))
    return out


# ----------------------------------------------------------------------------- cost

def cost_checks(spec: Spec, cost: dict) -> list[Check]:
    c = spec.cost
    out = [
        _budget_check("cost.budget.projected", "Projected daily cost of the declared production load, at the capacity "
                      "and billing measured in the stress test, is within budget",
                      cost.get("projected_daily_usd"), c.budget_daily_usd, c.alert_fraction, True, "cost.projected_daily_usd",
                      {k: (cost.get("projection") or {}).get(k) for k in ("load", "sandboxes", "capacity", "parts",
                                                                          "assumptions", "reason")}
                      | {"price_table": cost.get("price_table")}),
        _budget_check("cost.budget.forecast", "The run's observed spending rate, sustained for a production day, is within budget",
                      cost.get("projected_daily_observed_usd"), c.budget_daily_usd, c.alert_fraction, False,
                      "cost.projected_daily_observed_usd", {"total_usd": cost.get("total_usd")}),
    ]
    if c.per_1000_tasks:
        out.append(threshold_check("cost.per_1000_tasks", "cost", f"Cost per 1,000 tasks {c.per_1000_tasks}",
                                   c.per_1000_tasks, {}, "cost.per_1000_tasks_usd", "USD",
                                   value=cost.get("per_1000_tasks_usd")))
    for i, row in enumerate(cost.get("savings", [])):
        out += _saving_check(i, row)
    return out


def _saving_check(i: int, row: dict) -> list[Check]:
    """A saving is judged against the spec's target when one is set; without a target, only a
    measured negative saving of an optimization the certified configuration uses is judged (it
    fails: the optimization costs more than it saves); otherwise it is reported, not scored."""
    pct, target = row.get("saved_pct"), row.get("target")
    details = {k: row.get(k) for k in ("with", "without", "unit", "saved", "with_usd", "without_usd", "saved_usd",
                                       "in_use", "basis")}
    if target:
        expr = target
    elif pct is not None and pct < 0 and row.get("in_use"):
        expr = ">= 0%"
    else:
        return []
    if pct is None:
        details["reason"] = "not measured with and without in this run" if row.get("without") is None else "baseline is zero"
    chk = threshold_check(f"cost.savings.{row['name']}", "cost",
                          f"The '{row['name']}' optimization saves billed cost, measured with and without it",
                          expr, {}, f"cost.savings[{i}].saved_pct", "%",
                          value=None if pct is None else pct / 100.0, details=details)
    chk.observed = pct  # shown in percent, judged as the fraction the % unit stands for
    return [chk]


def _budget_check(cid: str, description: str, value: float | None, budget: float, alert: float, critical: bool,
                  path: str, details: dict) -> Check:
    expr = f"< ${budget:.2f}"
    status = judged(value, thresholds.parse(f"< {budget!r}"))
    if status == "pass" and value >= alert * budget:
        status = "warn"
        details = {**details, "alert": f"at or above {alert:.0%} of the budget (${alert * budget:.2f})"}
    return Check(cid, "cost", description, expr, value, "USD/day", status, critical, path, details)


# ----------------------------------------------------------------------------- waivers

def apply_waivers(checks: list[Check], spec: Spec, now: datetime) -> list[dict]:
    """Mark failed checks covered by an active waiver as `waived`; expired waivers count as absent.

    A waiver accepts a measured failure (`fail`) only: `nodata` and `error` say the evidence is
    missing or broken, which no waiver can make a pass, so those checks keep their status and
    the waiver lists them under `not_applied`. A `warn` already passes and stays a `warn`.
    A waiver's `check` is a check id or an fnmatch pattern within one category (`doc.*`; the
    spec rejects a pattern that could match every check). Returns every waiver with whether it
    was active, which checks it waived and which it could not.
    """
    report = []
    for w in spec.waivers:
        active = w.active(now)
        hit, not_applied = [], []
        for c in checks if active else ():
            if not fnmatch.fnmatchcase(c.id, w.check):
                continue
            if c.status == "fail":
                c.waiver = {"reason": w.reason, "owner": w.owner, "expires": w.expires.isoformat(), "was": c.status}
                c.status = "waived"
                hit.append(c.id)
            elif c.status in ("nodata", "error"):
                not_applied.append({"check": c.id, "status": c.status,
                                    "reason": "missing or broken evidence cannot be waived"})
        report.append({"check": w.check, "owner": w.owner, "reason": w.reason, "expires": w.expires.isoformat(),
                       "active": active, "waived": hit, "not_applied": not_applied})
    return report
