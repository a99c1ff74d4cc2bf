"""A complete, healthy evidence dict (docs/contracts.md §5) and a documented repo, for judge tests."""

from __future__ import annotations

import copy
import random
from pathlib import Path

from tradeswarm.cli.mcp import TOOL_NAMES
from validation.spec import Spec

VERSION = "9.8.7"


def latency(samples: list[float]) -> dict:
    """Summary stats of samples the way the stress engine reports them."""
    xs = sorted(samples)

    def q(p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    return {"count": len(xs), "p50": q(0.5), "p90": q(0.9), "p95": q(0.95), "p99": q(0.99), "p999": q(0.999),
            "max": xs[-1], "mean": sum(xs) / len(xs), "p95_ci": [q(0.93), q(0.97)], "p99_ci": [q(0.98), xs[-1]],
            "insufficient": ["p999"] if len(xs) < 1000 else []}


def samples(seed: int = 1, n: int = 200, scale: float = 1.0) -> dict[str, list[float]]:
    rng = random.Random(seed)
    base = {"sandbox_create": 300, "sandbox_exec": 40, "sandbox_status": 5, "agent_deploy": 900,
            "consensus": 60, "task": 20, "sandbox_kill": 30, "stress_task": 25, "mcp_call": 150}
    return {op: [rng.lognormvariate(0, 0.3) * m * scale for _ in range(n)] for op, m in base.items()}


def usage(seconds: float, *, vcpu: float = 1.0, gib: float = 2.0) -> dict:
    """A `CostMeter.snapshot()` of `seconds` sandbox-seconds of one size."""
    return {"sandboxes": 1, "sandbox_seconds": seconds, "vcpu_seconds": seconds * vcpu, "gib_seconds": seconds * gib,
            "api_calls": {}, "api_calls_total": 0, "stored_bytes": 0}


def optimizations(*, pool: tuple = (3.0, 2.0), template: tuple = (1.0, 4.0), late: tuple = (0.3, 0.2)) -> dict:
    """The provision stage's A/B evidence (tasks/sandboxes.py): billed usage with and without."""
    return {"pooling": {"with": usage(pool[0]), "without": usage(pool[1]), "unit": "sandbox-seconds", "pool_size": 1},
            "template_caching": {"with": usage(template[0]), "without": usage(template[1]), "unit": "sandbox-seconds"},
            "idle_cleanup": {"late_s": {"with": late[0], "without": late[1]}, "usage": usage(5.0),
                             "probe": {"idle_s": 1.0, "lifetime_s": 3}}}


def mcp_evidence() -> dict:
    """The MCP probe's evidence of a healthy server (tasks/mcp.py)."""
    return {"tools": sorted(TOOL_NAMES), "missing_tools": [], "lifecycles": 4, "lifecycles_ok": 4,
            "lifecycle_ok": True, "errors": [], "leaked": 0, "calls": 20}
def _backtested(spec: Spec) -> list[tuple[str, str, int]]:
    """(strategy, symbol, trials) of every strategy swept or run by a deployed agent."""
    out = {(s.name, sym): s.trials for s in spec.backtest.strategies for sym in spec.backtest_symbols}
    for a in spec.agents:
        out.update({(a.type, sym): 1 for sym in a.symbols if (a.type, sym) not in out})
    return [(name, sym, trials) for (name, sym), trials in out.items()]


def good_evidence(spec: Spec, *, seed: int = 1) -> dict:
    """Evidence of a run that meets every threshold of `spec`."""
    s = samples(seed)
    tasks = spec.stress.tasks
    failed = int(tasks * 0.005)  # few enough that the rates' 95 % intervals clear their bounds
    kinds = {"kill_sandboxes": "kill-sandbox", "fail_rate": "answer-fail", "latency": "latency",
             "create_failures": "create-fail", "rate_limit": "rate-limit"}
    faults = [{"kind": kinds[k], "params": {}, "injected": True, "cost": {"retries": 1},
               "detail": {"stranded": {"tasks": 2, "completed": 2}, "recovery": {"ok": True}}
               if k == "kill_sandboxes" else {}}
              for k in spec.stress.faults.enabled()]
    phases = _phases(spec, tasks, failed)
    tasks = sum(p["submitted"] for p in phases.values())  # the whole run: every phase's tasks
    failed = sum(p["failed"] for p in phases.values())
    return {
        "duration_s": 20.0,
        "latency": {op: latency(v) for op, v in s.items()},
        "samples": s,
        "sandboxes": {"created": spec.sandboxes.count, "killed": spec.sandboxes.count, "leaked": 0,
                      "create_failures": 0, "lifecycle_ok": True, "errors": []},
        "mcp": mcp_evidence(),
        "agents": {"requested": spec.agent_count, "deployed": spec.agent_count, "healthy": spec.agent_count,
                   "replaced": 0, "deploy_failures": 0, "by_type": {}},
        "consensus": {"rounds": 10, "decided": 7, "holds": 3, "no_quorum": 0, "vetoed": 0, "errors": 0},
        "portfolio": {"orders": 4, "fills": 4, "rejected": 0, "invariant_violations": 0, "equity": 1e5, "cash": 5e4},
        "parity": [{"strategy": t, "symbol": sym, "bars": 500, "mismatches": 0}
                   for t, sym in dict.fromkeys((a.type, sym) for a in spec.agents for sym in a.symbols)],
        "stress": {"submitted": tasks, "completed": tasks - failed, "failed": failed, "timed_out": 0, "lost": 0,
                   "duplicated": 0, "not_submitted": 0, "orphaned": 0, "duration_s": 5.0, "throughput_per_s": tasks / 5.0,
                   "success_rate": (tasks - failed) / tasks, "error_rate": failed / tasks, "errors_by_class": {},
                   "aborted": False, "abort_reason": None, "mode": "open", "faults": faults, "phases": phases,
                   # 10 ms per task: 100 tasks/s per agent; 1 vCPU + 2 GiB sandboxes; 1 stdin call per 2 lines
                   "latency": {"stress_service": latency([10.0] * 20)},
                   "billed": {"sandbox_seconds": 15.0, "vcpu_seconds": 15.0, "gib_seconds": 30.0, "stored_bytes": 0,
                              "api_calls": {"stdin": tasks // 2}, "api_calls_total": tasks // 2,
                              "api_items": {"stdin": tasks}}},
        "optimizations": optimizations(),
        "cost": {"meter": {"sandboxes": spec.sandboxes.count, "sandbox_seconds": 40.0, "vcpu_seconds": 40.0,
                           "gib_seconds": 20.0, "api_calls": {}, "api_calls_total": 0, "stored_bytes": 0},
                 "elapsed_s": 20.0},
        "backtests": [{"strategy": name, "symbol": sym, "params": {}, "trials": trials, "total_return": 0.5,
                       "trades": 40, "gates": {"dsr": 0.97, "psr": 0.99, "walk_forward": {"degradation": 0.2},
                                               "cost_stress_return": 0.3, "lag_return": 0.45, "min_trades_ok": True},
                       "crosscheck": {"agree": True, "first_divergence": None, "equity_rel_diff": 0.0}}
                      for name, sym, trials in _backtested(spec)],
        "data_validation": [{"dataset": d, "rows": 750, "expectations": 12, "failed": 0, "failures": []}
                            for d in spec.data.datasets],
    }


def _phases(spec: Spec, tasks: int, failed: int) -> dict:
    """The stress phases of a healthy run: steady state, and chaos plus recovery with faults."""
    def phase(n: int, bad: int, **extra) -> dict:
        return {"submitted": n, "completed": n - bad, "failed": bad, "timed_out": 0, "lost": 0, "duplicated": 0,
                "orphaned": 0, "not_submitted": 0, "duration_s": 5.0, "throughput_per_s": n / 5.0,
                "success_rate": (n - bad) / n, "error_rate": bad / n, "outcomes": "o" * (n - bad) + "x" * bad, **extra}

    out = {"steady": phase(tasks, failed)}
    f = spec.stress.faults
    if f.enabled():
        out["chaos"] = phase(f.tasks, 3)
        out["recovery"] = phase(f.recovery_tasks, 0, p95_all_ms=30.0)
    return out


def with_(evidence: dict, path: str, value) -> dict:
    """A deep copy of `evidence` with one dotted path set."""
    out = copy.deepcopy(evidence)
    cur = out
    parts = path.split(".")
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    last = parts[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value
    return out


def documented_repo(root: Path, spec: Spec) -> Path:
    """Write every document `spec` requires, satisfying its rule, under `root`."""
    (root / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "{VERSION}"\n')
    for doc in spec.documentation.required:
        body = [f"# {doc.path}", "", "Intro mentioning " + " and ".join(m.replace("{version}", VERSION) for m in doc.mentions), ""]
        for h in doc.headings:
            body += [f"## {h}", "", f"Text about {h}.", ""]
        p = root / doc.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(body))
        for c in doc.covers:
            (root / c).mkdir(parents=True, exist_ok=True)
    return root
