"""Run history: compare a run with the last K runs of the same configuration.

A run's history key is its profile and the SHA-256 of its effective spec (`spec_sha256`, in
results.json): a run with `overrides` (e.g. a 200-task run of the nightly profile) or a changed
spec has another key and is never compared with the nightly's history, nor the nightly with it;
a run that recorded no key (older than the key) is compared with nothing.

Runs are kept as run directories (`<runs>/<run-id>/results.json` + `samples.json`). For each
latency operation the current raw samples are compared with the pooled samples of the last K
runs by a two-sided Mann–Whitney U test **and** a magnitude threshold on the median; a
regression is flagged only when both trip (p < alpha and the median rose by at least the warn
band), as `warn` below the fail band and `fail` at or above it. An operation that either side
timed (this run or the last K) but that has too few samples on one side — fewer than
`min_samples`, or too few for the U test ever to reach p < alpha — is not compared, and says so:
its regression check is `nodata` (not critical), never silently absent. The judge compares the
operations its spec sets latency SLAs on; one that no past run timed is new and not compared.
Cost per 1,000 tasks is compared
with the median of the same runs by magnitude bands (one figure per run: no test applies).
The readiness trend and the cost change in $ and % against the previous run are reported.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from pathlib import Path
from typing import Any, Collection

from validation.checks import Check
from validation.spec import HistorySpec

MAX_BASELINE = 20_000  # pooled baseline samples kept (evenly thinned): bounds the U test's cost


def spec_sha256(spec) -> str:
    """The history key's hash: SHA-256 of the effective spec (overrides merged, provider resolved).

    >>> from validation import load_spec
    >>> spec_sha256(load_spec("smoke")) == spec_sha256(load_spec("smoke", overrides={"stress": {"tasks": 200}}))
    False
    """
    return hashlib.sha256(json.dumps(spec.resolved(), sort_keys=True, default=str).encode()).hexdigest()


def load_history(runs_dir: str | Path, profile: str, k: int, *, exclude_run_id: str | None = None,
                 spec_hash: str | None = None) -> list[dict]:
    """The last `k` results of `profile` in `runs_dir` (and, given `spec_hash`, of that
    effective spec only), newest first, each with its `samples`.

    Unreadable or foreign files are skipped: history is advisory input, a broken old run must
    not stop a new certification.
    """
    runs = []
    for path in Path(runs_dir).glob("*/results.json"):
        try:
            res = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(res, dict) or res.get("profile") != profile or res.get("run_id") == exclude_run_id:
            continue
        if spec_hash is not None and res.get("spec_sha256") != spec_hash:  # another configuration
            continue
        samples_path = path.with_name("samples.json")
        try:
            res["samples"] = json.loads(samples_path.read_text(encoding="utf-8")) if samples_path.is_file() else {}
        except (OSError, ValueError):
            res["samples"] = {}
        runs.append(res)
    runs.sort(key=lambda r: str(r.get("started_at") or ""), reverse=True)
    return runs[:k]


def _thin(xs: list[float], n: int) -> list[float]:
    return xs if len(xs) <= n else [xs[int(i * len(xs) / n)] for i in range(n)]


def _band(change_pct: float, warn: float, fail: float) -> str:
    return "fail" if change_pct >= fail else "warn" if change_pct >= warn else "pass"


def _samples_of(samples: Any, op: str) -> list[float]:
    xs = samples.get(op) if isinstance(samples, dict) else None
    return [float(x) for x in xs if _num(x) is not None and math.isfinite(x)] if isinstance(xs, list) else []


def latency_regressions(current: dict[str, list[float]], runs: list[dict], h: HistorySpec,
                        metrics: Collection[str] | None = None) -> list[dict]:
    """Per latency operation (those in `metrics`, default all) timed in this run or the past
    ones: baseline and current medians, change %, U-test p-value and status (`nodata` with a
    reason when the comparison cannot be made). An operation no past run timed, though every
    one kept its samples, is new: nothing to regress from, no entry."""
    from scipy.stats import mannwhitneyu

    past = [r.get("samples") for r in runs]
    ops = {op for s in (current, *past) if isinstance(s, dict) for op in s}
    if metrics is not None:
        ops &= set(metrics)
    out = []
    for op in sorted(ops):
        cur = _samples_of(current, op)
        base = [x for s in past for x in _samples_of(s, op)]
        if not base and all(isinstance(s, dict) for s in past):
            continue
        if not _comparable(len(cur), len(base), h):
            out.append({"metric": op, "baseline_median_ms": None, "current_median_ms": None, "change_pct": None,
                        "p_value": None, "baseline_n": len(base), "current_n": len(cur), "status": "nodata",
                        "reason": f"too few samples to compare (this run {len(cur)}, the last {len(runs)} runs "
                                  f"{len(base)}; at least {h.min_samples} each, and enough for p < {h.alpha:g})"})
            continue
        base = _thin(base, MAX_BASELINE)
        m_base, m_cur = statistics.median(base), statistics.median(cur)
        change = (m_cur - m_base) / m_base * 100.0 if m_base > 0 else 0.0
        p = float(mannwhitneyu(cur, base, alternative="two-sided").pvalue)
        status = _band(change, h.latency_warn_pct, h.latency_fail_pct) if p < h.alpha else "pass"
        out.append({"metric": op, "baseline_median_ms": m_base, "current_median_ms": m_cur, "change_pct": change,
                    "p_value": p, "baseline_n": len(base), "current_n": len(cur), "status": status})
    return out


def _comparable(n_cur: int, n_base: int, h: HistorySpec) -> bool:
    """Enough samples on both sides, and enough for the U test to reach p < alpha at all: its
    smallest two-sided p-value is 2 / C(n1 + n2, n1) (4 against 4 can never go below 0.029)."""
    if min(n_cur, n_base) < h.min_samples:
        return False
    k, n, ways = min(n_cur, n_base), n_cur + n_base, 1
    for i in range(1, k + 1):  # C(n - k + i, i) grows with i up to C(n, k): stop once it is enough
        ways = ways * (n - k + i) // i
        if 2.0 / ways < h.alpha:
            return True
    return False


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def compare(spec_history: HistorySpec, profile: str, samples: dict, cost: dict, history: list[dict],
            metrics: Collection[str] | None = None) -> tuple[dict, list[Check]]:
    """The results.json `history` section (without the readiness figures) and the regression
    checks, for the latency operations in `metrics` (default: every one timed)."""
    runs = [r for r in history if isinstance(r, dict) and r.get("profile", profile) == profile]
    runs.sort(key=lambda r: str(r.get("started_at") or ""), reverse=True)
    runs = runs[: spec_history.k]
    section: dict[str, Any] = {
        "previous_run_id": runs[0].get("run_id") if runs else None,
        "compared_runs": [r.get("run_id") for r in runs],
        "readiness_delta": None,
        "readiness_trend": [{"run_id": r.get("run_id"), "started_at": r.get("started_at"),
                             "readiness_score": r.get("readiness_score"), "verdict": r.get("verdict")} for r in reversed(runs)],
        "cost_delta_usd": None,
        "cost_delta_pct": None,
        "regressions": [],
    }
    if not runs:
        return section, []
    prev_cost = _num((runs[0].get("cost") or {}).get("total_usd"))
    cur_cost = _num(cost.get("total_usd"))
    if prev_cost is not None and cur_cost is not None:
        section["cost_delta_usd"] = cur_cost - prev_cost
        section["cost_delta_pct"] = (cur_cost - prev_cost) / prev_cost * 100.0 if prev_cost > 0 else None
    checks = []
    for reg in latency_regressions(samples if isinstance(samples, dict) else {}, runs, spec_history, metrics):
        section["regressions"].append(reg)
        checks.append(Check(
            f"perf.regression.{reg['metric']}", "performance",
            f"{reg['metric']} latency has not regressed against the last {len(runs)} runs (Mann-Whitney U and median change)",
            f"not (p < {spec_history.alpha:g} and median +{spec_history.latency_warn_pct:g}%/+{spec_history.latency_fail_pct:g}%)",
            reg["change_pct"], "% median change", reg["status"], False,
            f"history.regressions[{len(section['regressions']) - 1}].change_pct", dict(reg)))
    base_unit = [v for v in (_num((r.get("cost") or {}).get("per_1000_tasks_usd")) for r in runs) if v is not None]
    cur_unit = _num(cost.get("per_1000_tasks_usd"))
    if base_unit and cur_unit is not None:
        median = statistics.median(base_unit)
        if median > 0:
            change: float | None = (cur_unit - median) / median * 100.0
            status = _band(change, spec_history.cost_warn_pct, spec_history.cost_fail_pct)
        else:  # free before (e.g. local prices): a rise has no percentage, so it is only flagged
            change, status = (0.0, "pass") if cur_unit == 0 else (None, "warn")
        reg = {"metric": "per_1000_tasks_usd", "baseline_median": median, "current": cur_unit, "change_pct": change, "status": status}
        section["regressions"].append(reg)
        checks.append(Check("cost.regression.per_1000_tasks", "cost",
                            f"Cost per 1,000 tasks has not risen against the median of the last {len(runs)} runs",
                            f"change < +{spec_history.cost_warn_pct:g}% (warn) / +{spec_history.cost_fail_pct:g}% (fail)",
                            change, "%", status, False,
                            f"history.regressions[{len(section['regressions']) - 1}].change_pct", dict(reg)))
    return section, checks
