"""Checks: each measured figure of the evidence against its threshold, with a status that cannot lie.

A check reads one place of the evidence. When that place is absent the status is `nodata`,
which scores as a failure; a value of the wrong type is `error`. Statuses: `pass`, `fail`,
`warn` (within the bound but past an alert level), `marginal` (the value's 95 % confidence
interval straddles the bound: scored as passed, but a critical one caps the verdict at
CONDITIONAL; validation.thresholds.judge_interval), `nodata`, `error`, `waived` (a measured
failure accepted by an active waiver; missing evidence can never be waived).

The checks read the typed evidence (`validation.evidence.Results`) by attribute. A value the
models refuse (a string where a count belongs) is set aside when the evidence is loaded
(`Loaded.of`) and its check is `error`; the rest of its section is still judged.

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

>>> ev = Loaded.of({"latency": {"x": {"p95": 7000.0}}})
>>> c = threshold_check("perf.x", "performance", "x", "p95 < 5000ms", ev, "latency.x.p95", "ms")
>>> c.status, c.observed
('fail', 7000.0)
>>> threshold_check("perf.x", "performance", "x", "p95 < 5000ms", Loaded.of({}), "latency.x.p95", "ms").status
'nodata'
>>> bad = Loaded.of({"latency": {"x": {"p95": "fast", "count": 9}}})
>>> threshold_check("perf.x", "performance", "x", "p95 < 5000ms", bad, "latency.x.p95", "ms").status, bad.results.latency["x"].count
('error', 9)
"""

from __future__ import annotations

import copy
import fnmatch
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from validation import thresholds
from validation.evidence import (  # noqa: F401  (PASSING, STATUSES re-exported: the statuses' one source)
    PASSING, STATUSES, Backtest, CostSection, Fault, Gates, LatencySummary, Phase, Record, Results, ResultsError,
    Saving, StressEvidence,
)
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
    """The value at a dotted path (`a.b[2].c`) through models, dicts and lists, or `MISSING`.

    A model's field counts only when the stage reported it (`Record.has`): a default is not a
    measurement."""
    cur = evidence
    for name, index in _PATH.findall(path):
        if index:
            if not isinstance(cur, list) or int(index) >= len(cur):
                return MISSING
            cur = cur[int(index)]
        elif isinstance(cur, Record) and cur.has(name):
            cur = getattr(cur, name)
        elif isinstance(cur, dict) and name in cur:
            cur = cur[name]
        else:
            return MISSING
    return cur


# the judge's inputs beside the evidence: raw samples, the meter's bill, the run's books
_NOT_EVIDENCE = ("samples", "cost", "fingerprints", "duration_s")


@dataclass(frozen=True)
class Loaded:
    """The evidence as the checks read it: the typed `Results`, and each value its models
    refused, by path (`latency.x.p95`), judged `error` instead of sinking its whole section."""

    results: Results
    refused: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, evidence: Results | dict) -> "Loaded":
        """`evidence` typed; a refused value is taken out and kept aside, one at a time
        (a value inside a list takes its list with it: the entries' indices must hold)."""
        if isinstance(evidence, Results):
            return cls(evidence)
        doc = copy.deepcopy({k: v for k, v in evidence.items() if k not in _NOT_EVIDENCE})
        refused: dict[str, Any] = {}
        while True:
            try:
                return cls(Results.model_validate(doc), refused)
            except ValidationError as e:
                path, value = _take_out(doc, e.errors()[0]["loc"])
                if path in refused or not path:
                    raise ResultsError(f"evidence at {path or 'top level'} cannot be read: {e.errors()[0]['msg']}") from None
                refused[path] = value

    def at(self, path: str) -> Any:
        return self.refused[path] if path in self.refused else lookup(self.results, path)


def _take_out(doc: dict, loc: tuple) -> tuple[str, Any]:
    """Remove the deepest value of `doc` on the error's `loc` (`(path, value)`); a list's entry
    takes the list out with it."""
    trail: list[tuple[Any, Any, str]] = []  # (container, key, path)
    cur, path = doc, ""
    for key in loc:
        if isinstance(cur, dict) and key in cur:
            path = f"{path}.{key}" if path else str(key)
        elif isinstance(cur, list) and isinstance(key, int) and key < len(cur):
            path = f"{path}[{key}]"
        else:
            break
        trail.append((cur, key, path))
        cur = cur[key]
    while trail and isinstance(trail[-1][0], list):
        trail.pop()
    if not trail:
        return "", None
    container, key, path = trail[-1]
    return path, container.pop(key)


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _at(obj: Any, path: str) -> Any:
    """The value at `path` in `obj`, None when absent (for the free-form reports of faults and gates)."""
    v = lookup(obj, path)
    return None if v is MISSING else v


def _given(rec: Record | None) -> bool:
    """Whether a stage reported anything in `rec` (an empty section is not evidence)."""
    return rec is not None and bool(rec.model_fields_set or rec.model_extra)


def judged(value: Any, t: thresholds.Threshold) -> str:
    """Status of one value against a threshold: nodata when absent, error when not a number."""
    if value is MISSING or value is None:
        return "nodata"
    n = _number(value)
    if n is None or n != n:  # NaN is a broken measurement, not a pass
        return "error"
    return "pass" if t.holds(n) else "fail"


def threshold_check(cid: str, category: str, description: str, expr: str, evidence: Loaded | None, path: str,
                    unit: str | None, *, critical: bool = False, value: Any = MISSING, details: dict | None = None,
                    ci: Any = None) -> Check:
    """A check of the value at `path` (or `value`, already computed) against `expr`; with `ci`,
    its confidence interval, a value whose interval straddles the bound is `marginal`. Without
    `evidence`, `value` is the figure and `path` where results.json shows it."""
    t = thresholds.parse(expr)
    v = evidence.at(path) if value is MISSING else value
    status = judged(v, t)
    if status in ("pass", "fail") and ci is not None:
        status = thresholds.judge_interval(t, float(v), ci)
    observed = _number(v) if status != "error" else repr(v)
    return Check(cid, category, description, expr, observed, unit, status, critical, path, details or {})


def _flag_check(cid: str, category: str, description: str, evidence: Loaded, path: str, *, expect: bool = True,
                critical: bool = True, details: dict | None = None) -> Check:
    v = evidence.at(path)
    if v is MISSING or v is None:
        status = "nodata"
    elif not isinstance(v, bool):
        status = "error"
    else:
        status = "pass" if v is expect else "fail"
    return Check(cid, category, description, f"== {str(expect).lower()}", v if v is not MISSING else None, None,
                 status, critical, path, details or {})


def _pick(rec: Record | None, keys: tuple[str, ...]) -> dict:
    """The fields of `rec` named in `keys` that the stage reported (for a check's details)."""
    return {k: getattr(rec, k) for k in keys if rec is not None and rec.has(k)}


def _reported(rec: Record, name: str) -> Any:
    """`rec.name` if the stage reported it, else None (a default is not a measurement)."""
    return getattr(rec, name) if rec.has(name) else None


# ----------------------------------------------------------------------------- functionality

def functionality_checks(spec: Spec, ev: Loaded) -> list[Check]:
    r = ev.results
    cons, pf = r.consensus, r.portfolio
    out = [
        _flag_check("func.sandbox_lifecycle", "functionality",
                    "Sandboxes are created, run commands, report status and are killed (real lifecycle)",
                    ev, "sandboxes.lifecycle_ok", details={"errors": r.sandboxes.errors[:5] if r.sandboxes else []}),
        threshold_check("func.agent_deploy", "functionality",
                        f"All {spec.agent_count} requested agents are deployed and pass the health handshake",
                        f">= {spec.agent_count}", ev, "agents.healthy", "agents", critical=True,
                        details=_pick(r.agents, ("requested", "deployed", "deploy_failures", "replaced"))),
    ]
    out.append(threshold_check(
        "func.consensus", "functionality", "Consensus rounds complete without errors (at least one round held)",
        "== 0", ev, "consensus.errors", "errors", critical=True,
        value=ev.at("consensus.errors") if cons and cons.rounds else None,
        details=_pick(cons, ("rounds", "decided", "holds", "no_quorum", "vetoed"))))
    out.append(threshold_check(
        "func.portfolio_invariants", "functionality",
        "Portfolio invariant (equity = cash + Σ quantity × price) holds after every fill; needs at least one fill",
        "max <= 0", ev, "portfolio.invariant_violations", "violations", critical=True,
        value=ev.at("portfolio.invariant_violations") if pf and pf.fills else None,
        details=_pick(pf, ("orders", "fills", "rejected"))))
    out.append(_parity_check(spec, ev))
    out.extend(_data_checks(spec, ev))
    out.extend(_backtest_correctness(spec, ev))
    out.extend(_mcp_checks(ev))
    return out


def _mcp_checks(ev: Loaded) -> list[Check]:
    """The MCP server (tasks/mcp.py): every tool listed, and sandbox lifecycles through a real client."""
    m = ev.results.mcp
    return [
        threshold_check("func.mcp.tools", "functionality", "The MCP server lists every tool it documents",
                        "== 0", ev, "mcp.missing_tools", "missing tools", critical=True,
                        value=len(m.missing_tools) if m and m.has("missing_tools") and m.tools else None,
                        details={"missing": m.missing_tools[:20] if m else [], "errors": m.errors[:3] if m else []}),
        _flag_check("func.mcp.lifecycle", "functionality",
                    "Sandbox lifecycles through a real MCP client (create, exec, status, list, terminate) answer right, nothing left alive",
                    ev, "mcp.lifecycle_ok",
                    details=_pick(m, ("lifecycles", "lifecycles_ok", "leaked", "errors"))),
    ]


def _parity_check(spec: Spec, ev: Loaded) -> Check:
    rows = ev.results.parity
    value: Any = None
    details: dict = {}
    if rows and not all(r.has("mismatches") for r in rows):
        value = "malformed parity evidence"  # a row that compared nothing it can say
    elif rows:
        value = sum(r.mismatches for r in rows)
        details = {"compared": len(rows), "bars": sum(r.bars for r in rows),
                   "mismatched": [f"{r.strategy}/{r.symbol}" for r in rows if r.mismatches][:10]}
        # an agent that died before the comparison leaves no row: its parity was not shown
        seen = {(r.strategy, r.symbol) for r in rows if r.bars > 0}
        missing = sorted(f"{t}/{s}" for t, s in {(a.type, s) for a in spec.agents for s in a.symbols} - seen)
        if missing:
            details["not_compared"] = missing[:10]
            value = value or None  # mismatches still fail; otherwise the evidence is incomplete
    return threshold_check("func.parity", "functionality",
                           "Live agents of every deployed strategy and symbol give the backtests' signal on every compared bar",
                           "== 0", ev, "parity", "mismatches", critical=True, value=value, details=details)


def _data_checks(spec: Spec, ev: Loaded) -> list[Check]:
    by_name = {r.dataset: i for i, r in enumerate(ev.results.data_validation)}
    names = list(dict.fromkeys([*spec.data.datasets, *(n for n in by_name if n)]))
    out = []
    for name in names:
        i = by_name.get(name)
        row = ev.results.data_validation[i] if i is not None else None
        path = f"data_validation[{i}].failed" if i is not None else "data_validation"
        out.append(threshold_check(
            f"func.data.{name}", "functionality",
            f"Dataset {name} passes the data contract (every expectation) before it is used",
            "== 0", ev, path, "failed expectations", critical=True,
            value=ev.at(path) if row else None,
            details={"rows": row.rows, "expectations": row.expectations,
                     "failures": [f.dump() for f in row.failures[:10]]} if row else {}))
    return out


def _backtest_correctness(spec: Spec, ev: Loaded) -> list[Check]:
    rows = ev.results.backtests
    agree: Any = None
    details: dict = {}
    path = "backtests"
    if rows:
        unchecked = [(i, r) for i, r in enumerate(rows) if r.crosscheck is None or r.crosscheck.agree is None]
        if unchecked:
            agree = None  # a configuration without a cross-check: missing evidence
            path = f"backtests[{unchecked[0][0]}]"
            details["unchecked"] = [f"{r.strategy}/{r.symbol}" for _, r in unchecked][:10]
        else:
            bad = [(i, r) for i, r in enumerate(rows) if not r.crosscheck.agree]
            agree = len(bad)
            if bad:
                i, r = bad[0]
                path = f"backtests[{i}].crosscheck"
                details["first_disagreement"] = {"strategy": r.strategy, "symbol": r.symbol, "params": r.params,
                                                 "first_divergence": r.crosscheck.first_divergence,
                                                 "equity_rel_diff": r.crosscheck.equity_rel_diff}
            details["compared"] = len(rows)
    # the strategies the deployed agents run, on their symbols (the risk manager included), and
    # those the spec sweeps: the evidence, not the spec, says which of them were backtested
    expected = {(a.type, sym) for a in spec.agents for sym in a.symbols}
    expected |= {(s.name, sym) for s in spec.backtest.strategies for sym in spec.backtest_symbols}
    got = {(str(r.strategy), str(r.symbol)) for r in rows}
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

def sla_checks(spec: Spec, ev: Loaded) -> list[Check]:
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


def _latency_check(op: str, expr: str, t: thresholds.Threshold, critical: bool, ev: Loaded) -> Check:
    agg = "mean" if t.aggregate == "avg" else t.aggregate
    root = "latency"
    stats = ev.at(f"latency.{op}")
    if stats is MISSING and ev.at(f"stress.latency.{op}") is not MISSING:  # the stress engine's own summary
        root, stats = "stress.latency", ev.at(f"stress.latency.{op}")
    cid, path = f"perf.{op}.{agg}", f"{root}.{op}.{agg}"
    description = f"{op.replace('_', ' ')} latency {expr}"
    if not isinstance(stats, LatencySummary):
        return threshold_check(cid, "performance", description, expr, ev, path, "count" if agg == "count" else "ms",
                               critical=critical)
    details = _pick(stats, ("count", "p50", "p95", "p99", "max", f"{agg}_ci"))
    if agg in stats.insufficient:  # too few samples to support this percentile
        slowest = _number(stats.max)
        if t.op in ("<", "<=") and slowest is not None and t.holds(slowest):
            # any percentile is at most the slowest sample: an upper bound the max meets holds
            details["reason"] = (f"only {stats.count} samples, too few to estimate {agg}; "
                                 f"the slowest ({slowest:.1f} ms) already meets the bound")
            return Check(cid, "performance", description, expr, slowest, "ms", "pass", critical,
                         f"{root}.{op}.max", details)
        details["reason"] = f"too few samples ({stats.count}) to support {agg}"
        return Check(cid, "performance", description, expr, None, "ms", "nodata", critical, path, details)
    if agg != "count" and not stats.count:
        details["reason"] = "no samples recorded"
        return Check(cid, "performance", description, expr, None, "ms", "nodata", critical, path, details)
    ci = lookup(stats, f"{agg}_ci")
    return threshold_check(cid, "performance", description, expr, ev, path, "count" if agg == "count" else "ms",
                           critical=critical, details=details, ci=None if ci is MISSING else ci)


# rate → the task counts its denominator sums (tradeswarm.stress.engine.accounting)
_RATE_TRIALS = {"success_rate": ("submitted",), "error_rate": ("completed", "failed", "timed_out")}


def _rate_ci(ev: Loaded, metric: str, path: str) -> list[float] | None:
    """Wilson 95 % interval of a rate over the task count beside it (None for other metrics)."""
    rate, section = _number(ev.at(path)), path.rsplit(".", 1)[0]
    if metric not in _RATE_TRIALS or rate is None:
        return None
    counts = [_number(ev.at(f"{section}.{k}")) for k in _RATE_TRIALS[metric]]
    if any(n is None for n in counts):
        return None
    n = sum(counts)
    return thresholds.wilson_interval(min(max(rate, 0.0), 1.0) * n, n)


# ----------------------------------------------------------------------------- reliability

# spec fault name → the kind the stress engine reports (tradeswarm.stress.faults.FAULT_KINDS)
_FAULT_KINDS = {
    "kill_sandboxes": "kill-sandbox",
    "fail_rate": "answer-fail",
    "latency": "latency",
    "create_failures": "create-fail",
    "rate_limit": "rate-limit",
}


def reliability_checks(spec: Spec, ev: Loaded) -> list[Check]:
    st = ev.results.stress or StressEvidence()  # absent: every figure below is unreported
    out = [_accounting_check(spec, ev, st),
           _flag_check("rel.stress.not_aborted", "reliability", "The stress test ran to the end (the abort rule did not fire)",
                       ev, "stress.aborted", expect=False, details={"abort_reason": st.abort_reason}),
           threshold_check("rel.sandboxes.leaked", "reliability", "Every sandbox the run created is gone at the end",
                           "max <= 0", ev, "sandboxes.leaked", "sandboxes", critical=True,
                           details=_pick(ev.results.sandboxes, ("created", "killed")))]
    out.append(_abort_rule_check(spec, ev, st))
    out.extend(_fault_checks(spec, ev, st))
    out.extend(_gate_checks(spec, ev))
    return out


def _accounting_check(spec: Spec, ev: Loaded, st: StressEvidence) -> Check:
    keys = ("submitted", "completed", "failed", "timed_out", "lost", "duplicated")
    vals = {k: _number(getattr(st, k)) for k in keys}
    value: Any = None
    details = {k: v for k, v in vals.items() if v is not None}
    if all(v is not None for v in vals.values()):
        unaccounted = vals["submitted"] - (vals["completed"] + vals["failed"] + vals["timed_out"])
        planned = _planned(spec)
        short = 0 if st.aborted else max(0.0, planned - vals["submitted"])
        details.update({"unaccounted": unaccounted, "not_submitted": short, "planned": planned})
        orphaned = _number(st.orphaned) or 0.0  # a final state for a task never submitted
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


def _abort_rule_check(spec: Spec, ev: Loaded, st: StressEvidence) -> Check:
    """The spec's abort rule replayed on each phase's outcomes (in finish order; one segment
    per engine, `|`-separated for Dask shards): it must have fired exactly when it should."""
    from tradeswarm.stress.config import StressConfig

    rule = StressConfig.of({"abort": spec.stress.abort.model_dump()}).abort
    traces = {name: p.outcomes for name, p in st.phases.items()}
    fired, value, details = st.aborted, None, {"rule": rule.model_dump()}
    if traces and all(t is not None for t in traces.values()) and fired is not None:
        crossed = {name: [rule.fires_at(seg) for seg in t.split("|")] for name, t in traces.items()}
        should = [name for name, at in crossed.items() if any(x is not None for x in at)]
        details.update(should_fire=bool(should), fired=fired, abort_reason=st.abort_reason,
                       crossed={name: at for name, at in crossed.items() if name in should})
        value = int(bool(should) != fired)
        if value:
            details["reason"] = ("the error rate crossed the rule's line but the run went on" if should
                                 else "the run aborted although the error rate never crossed the line")
    return threshold_check("rel.stress.abort_rule", "reliability",
                           "The abort rule fires exactly when the error rate crosses its line (replayed per phase)",
                           "== 0", ev, "stress.phases", "disagreements", critical=True, value=value, details=details)


def _fault_checks(spec: Spec, ev: Loaded, st: StressEvidence) -> list[Check]:
    wanted = spec.stress.faults.enabled()
    if not wanted:
        return [Check("rel.faults", "reliability", "Resilience under injected faults (the spec injects none)",
                      "injected > 0", None, None, "nodata", False, "stress.faults",
                      {"reason": "no fault configured in stress.faults: resilience is not demonstrated"})]
    out = []
    for kind in wanted:
        idx = next((i for i, f in enumerate(st.faults) if f.kind == _FAULT_KINDS[kind]), None)
        f = st.faults[idx] if idx is not None else Fault()
        # the fault's own report (tradeswarm.stress.faults): free-form per kind
        detail = f.detail
        injected = float(f.injected) if isinstance(f.injected, bool) else _number(f.injected)  # a flag or a count
        came_up = _at(detail, "scale_up") or _at(detail, "provisioning")
        if "error" in detail:
            status, reason = "fail", f"the fault's lever failed: {detail['error']}"
        elif idx is None or not injected:
            status, reason = "nodata", "fault configured but not injected"
        elif isinstance(came_up, dict) and not came_up.get("ok"):
            status, reason = "fail", "no agent came up through the sandbox-server fault"
        else:
            status, reason = "pass", None
        picked = len(f.tasks) if f.tasks is not None else None  # a per-task fault's tasks
        details = {"kind": _FAULT_KINDS[kind], "injected": injected, "cost": f.cost, "params": _reported(f, "params"),
                   "tasks": picked, "at_task": f.at_task, "detail": detail}
        if reason:
            details["reason"] = reason
        out.append(Check(f"rel.faults.{kind}", "reliability", f"The fault '{kind}' was injected in the chaos phase",
                         "injected", picked if picked is not None else injected,
                         "tasks" if picked is not None else "faults", status, False,
                         f"stress.faults[{idx}]" if idx is not None else "stress.faults", details))
    out += _chaos_checks(spec, ev, st)
    return out


def _chaos_checks(spec: Spec, ev: Loaded, st: StressEvidence) -> list[Check]:
    """The resilience checks of the chaos and recovery phases (tradeswarm.stress.engine)."""
    chaos, recovery = (p if _given(p) else None for p in (st.phases.get("chaos"), st.phases.get("recovery")))
    f = spec.stress.faults
    # every task of the faulted phases has exactly one final state
    value: Any = None
    details: dict = {}
    if chaos and recovery:
        value = 0.0
        for name, p, planned in (("chaos", chaos, f.tasks), ("recovery", recovery, f.recovery_tasks)):
            vals = {k: _number(getattr(p, k)) or 0.0 for k in ("submitted", "completed", "failed", "timed_out", "lost",
                                                                "duplicated", "orphaned")}
            short = 0.0 if st.aborted else max(0.0, planned - vals["submitted"])
            bad = (vals["lost"] + vals["duplicated"] + vals["orphaned"] + short
                   + abs(vals["submitted"] - vals["completed"] - vals["failed"] - vals["timed_out"]))
            details[name] = {**vals, "not_submitted": short, "unaccounted": bad}
            value += bad
    out = [threshold_check("rel.chaos.final_states", "reliability",
                           "Every task of the chaos and recovery phases reaches exactly one final state",
                           "== 0", ev, "stress.phases.chaos", "tasks", critical=True, value=value, details=details)]
    # tasks stranded on a killed sandbox are re-dispatched and complete; the swarm is back at strength
    if f.kill_sandboxes:
        out.append(_redispatch_check([(i, x) for i, x in enumerate(st.faults) if x.kind == "kill-sandbox"]))
    out.append(_recovery_latency_check(spec, ev, recovery))
    return out


def _redispatch_check(kills: list[tuple[int, Fault]]) -> Check:
    # what a kill-sandbox fault reports (tradeswarm.stress.faults): free-form dicts
    tasks = sum(_number(_at(f.detail, "stranded.tasks")) or 0 for _, f in kills)
    done = sum(_number(_at(f.detail, "stranded.completed")) or 0 for _, f in kills)
    recoveries = [_at(f.detail, "recovery") for _, f in kills]
    recovered = [bool(_at(r, "ok")) for r in recoveries]
    details = {"stranded": tasks, "completed": done, "back_at_strength": recovered, "recovery": recoveries}
    value = None
    if not kills or not any(f.injected for _, f in kills):
        details["reason"] = "no sandbox was killed"
    elif not tasks and all(recovered):  # a swarm not back at strength fails, stranded tasks or not
        details["reason"] = "no task was in flight on the killed sandboxes: re-dispatch not demonstrated"
    else:
        value = (tasks - done) + recovered.count(False)
    return threshold_check("rel.chaos.redispatch", "reliability",
                           "Tasks on a killed sandbox are re-dispatched and complete; the agents are replaced",
                           "== 0", None, f"stress.faults[{kills[0][0]}].detail" if kills else "stress.faults",
                           "tasks", critical=True, value=value, details=details)


def _recovery_latency_check(spec: Spec, ev: Loaded, recovery: Phase | None) -> Check:
    """After the faults end, the latency returns to the steady state's within the bound."""
    f = spec.stress.faults
    steady = ev.at("latency.stress_task.p95")  # the SLA's figure: the steady state's (stress.latency)
    steady_p95 = _number(steady if steady is not MISSING else ev.at("stress.latency.stress_task.p95"))
    bound = f.recovery_p95_ratio * steady_p95 + f.recovery_slack_ms if steady_p95 is not None else None
    submitted = _number(recovery.submitted) or 0 if recovery else 0
    completed = recovery.completed if recovery else None
    details = {"steady_p95_ms": steady_p95, "bound_ms": bound, "recovery_tasks": submitted, "completed": completed}
    status, observed = "nodata", None
    if not recovery or bound is None:
        details["reason"] = "no recovery phase or no steady-state P95 to compare with"
    elif not submitted:
        details["reason"] = "the recovery phase never started (the run aborted before it)"
    elif _number(recovery.p95_all_ms) is None:
        status = "fail"
        details["reason"] = (f"{submitted - (_number(completed) or 0):.0f} of {submitted:.0f} "
                             "recovery tasks did not complete: the P95 is unbounded")
    else:
        observed = float(recovery.p95_all_ms)
        status = "pass" if observed <= bound else "fail"
    expr = f"p95 <= {f.recovery_p95_ratio:g} x steady p95 + {f.recovery_slack_ms:g}ms"
    return Check("rel.chaos.recovery_latency", "reliability",
                 "After the faults end, the task latency returns within the bound of the steady state's",
                 expr, observed, "ms", status, True, "stress.phases.recovery.p95_all_ms", details)


def _wf_degradation(g: Gates) -> float | None:
    """Mean in-sample Sharpe minus mean out-of-sample Sharpe (validation.gates.walk_forward)."""
    degradation = _number(_at(g, "walk_forward.degradation"))  # the gate's own report: free-form
    if degradation is not None:
        return degradation
    is_, oos = (_number(_at(g, f"walk_forward.{k}")) for k in ("is_sharpe_mean", "oos_sharpe_mean"))
    return is_ - oos if is_ is not None and oos is not None else None


def _lag_kept(r: Backtest, g: Gates, max_drop: float) -> float | None:
    """The lag test as a margin, ≥ 0 when one extra bar of lag costs at most `max_drop` of the
    figure's size: lagged ≥ x − max_drop·|x| for the total return and, when reported, the Sharpe.

    Losing strategies are judged too (a loss that deepens sharply with one bar of delay depends
    on trading at a price it could not have had); the margin is the worse of the two figures.
    """
    total, lagged = _number(r.total_return), _number(g.lag_return)
    if total is None or lagged is None:
        return None
    pairs = [(total, lagged), (_number(r.sharpe), _number(g.lag_sharpe))]
    return min(y - (x - max_drop * abs(x)) for x, y in pairs if x is not None and y is not None)


def _gate_checks(spec: Spec, ev: Loaded) -> list[Check]:
    gates = spec.backtest.gates
    # (check name, description, expression, value of one entry, unit, the entry's field the value comes from)
    gate_defs = [
        ("dsr", f"Deflated Sharpe ratio ≥ {gates.dsr_min:g} given every trial counted", f">= {gates.dsr_min!r}",
         lambda r, g: _number(g.dsr), "dsr", "gates.dsr"),
        ("walk_forward", f"Walk-forward: mean Sharpe drops by ≤ {gates.walk_forward_max_degradation:g} out of sample",
         f"<= {gates.walk_forward_max_degradation!r}", lambda r, g: _wf_degradation(g), "degradation", "gates.walk_forward"),
        ("cost_stress", f"Return with fees × {gates.cost_multiplier:g} stays ≥ {gates.cost_stress_min_return:g}",
         f">= {gates.cost_stress_min_return!r}", lambda r, g: _number(g.cost_stress_return), "return",
         "gates.cost_stress_return"),
        ("lag", f"One extra bar of lag costs ≤ {gates.lag_max_drop:.0%} of the return and Sharpe, gain or loss (no look-ahead collapse)",
         ">= 0", lambda r, g: _lag_kept(r, g, gates.lag_max_drop), "margin", "gates.lag_return"),
    ]
    out = []
    for name, description, expr, extract, unit, field_path in gate_defs:
        t = thresholds.parse(expr)
        per, too_few, failed, missing = [], [], [], []
        for i, r in enumerate(ev.results.backtests):
            label = f"{r.strategy}/{r.symbol}"
            if r.gates.min_trades_ok is False or (r.trades is not None and r.trades < gates.min_trades):
                too_few.append(label)
                continue
            v = extract(r, r.gates)
            if v is None:
                missing.append(label)
                continue
            per.append((v, i))
            if not t.holds(v):
                failed.append({"config": label, "params": r.params, "value": v})
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

def cost_checks(spec: Spec, cost: CostSection | dict) -> list[Check]:
    """The cost section (validation.cost.cost_section, typed here) against the spec's budget and targets."""
    c, cost = spec.cost, CostSection.model_validate(cost)
    projection = cost.projection.dump() if cost.projection else {}
    out = [
        _budget_check("cost.budget.projected", "Projected daily cost of the declared production load, at the capacity "
                      "and billing measured in the stress test, is within budget",
                      cost.projected_daily_usd, c.budget_daily_usd, c.alert_fraction, True, "cost.projected_daily_usd",
                      {k: projection.get(k) for k in ("load", "sandboxes", "capacity", "parts", "assumptions", "reason")}
                      | {"price_table": cost.price_table}),
        _budget_check("cost.budget.forecast", "The run's observed spending rate, sustained for a production day, is within budget",
                      cost.projected_daily_observed_usd, c.budget_daily_usd, c.alert_fraction, False,
                      "cost.projected_daily_observed_usd", {"total_usd": cost.total_usd}),
    ]
    if c.per_1000_tasks:
        out.append(threshold_check("cost.per_1000_tasks", "cost", f"Cost per 1,000 tasks {c.per_1000_tasks}",
                                   c.per_1000_tasks, None, "cost.per_1000_tasks_usd", "USD",
                                   value=cost.per_1000_tasks_usd))
    for i, row in enumerate(cost.savings):
        out += _saving_check(i, row)
    return out


def _saving_check(i: int, row: Saving) -> list[Check]:
    """A saving is judged against the spec's target when one is set; without a target, only a
    measured negative saving of an optimization the certified configuration uses is judged (it
    fails: the optimization costs more than it saves); otherwise it is reported, not scored."""
    pct = row.saved_pct
    shown = row.dump()
    details = {k: shown.get(k) for k in ("with", "without", "unit", "saved", "with_usd", "without_usd", "saved_usd",
                                         "in_use", "basis")}
    if row.target:
        expr = row.target
    elif pct is not None and pct < 0 and row.in_use:
        expr = ">= 0%"
    else:
        return []
    if pct is None:
        details["reason"] = "not measured with and without in this run" if row.without is None else "baseline is zero"
    chk = threshold_check(f"cost.savings.{row.name}", "cost",
                          f"The '{row.name}' optimization saves billed cost, measured with and without it",
                          expr, None, f"cost.savings[{i}].saved_pct", "%",
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
