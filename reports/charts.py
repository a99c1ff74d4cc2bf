"""PNG charts of a run, drawn headless with matplotlib's Agg backend.

matplotlib is imported inside the functions (it costs ~0.5 s), and figures are made with
`matplotlib.figure.Figure` rather than pyplot, so no global figure state leaks between
runs rendered in one process. A chart is drawn only from evidence the run carries; the
functions return the file names they wrote.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports._format import REPORT_MODE, fmt_generic, fmt_ms, fmt_score, is_number
from reports.sections.stress import STRESS_OP
from tradeswarm.atomic import atomic_write_bytes
from validation.evidence import LatencySummary, Results
from validation.evidence.results import ScoringBands

if TYPE_CHECKING:
    from reports.index import RunListing

CHART_NAMES = ("readiness.png", "stress_latency.png", "stress_throughput.png", "equity_curves.png")
_DPI = 80


def _figure(width: float = 8, height: float = 4, *, left: float = 0.1, bottom: float = 0.14):
    from matplotlib.figure import Figure

    # fixed margins: a constrained layout costs an extra draw and doubles the render time
    fig = Figure(figsize=(width, height), dpi=_DPI)
    fig.subplots_adjust(left=left, bottom=bottom, right=0.97, top=0.9, wspace=0.25)
    return fig


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    # no Software/date metadata: the same run renders the same bytes
    fig.savefig(buf, format="png", metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue(), mode=REPORT_MODE)


def score_bands(scoring: ScoringBands) -> tuple[float, float]:
    """The spec's pass and marginal thresholds (infinite when the run does not carry them)."""
    inf = float("inf")
    passing, marginal = scoring.pass_, scoring.marginal
    return (float(passing) if is_number(passing) else inf, float(marginal) if is_number(marginal) else inf)


def readiness_chart(results: Results | dict, path: Path) -> bool:
    """Horizontal bars: score per category, with its weight in the label."""
    results = Results.parse(results)
    cats = [c for c in results.categories if is_number(c.score)]
    if not cats:
        return False
    fig = _figure(7, 0.5 * len(cats) + 1.2, left=0.36, bottom=0.8 / (0.5 * len(cats) + 1.2))
    ax = fig.add_subplot()
    names = [f"{c.name or '?'} (weight {fmt_generic(c.weight)})" for c in cats]
    scores = [float(c.score) for c in cats]
    passing, marginal = score_bands(results.scoring)
    colors = ["#2e7d32" if s >= passing else "#f9a825" if s >= marginal else "#c62828" for s in scores]
    ax.barh(names[::-1], scores[::-1], color=colors[::-1])
    ax.set_xlim(0, 100)
    ax.set_xlabel("category score")
    ax.set_title(f"Readiness {fmt_score(results.readiness_score)} / 100: {results.verdict or ''}", loc="left")
    _save(fig, path)
    return True


def _bin_edges(xs, bins: int):
    """Histogram edges over the samples' range, widened when the range has no room for them (one
    repeated value, or a spread below float resolution at its magnitude: numpy refuses those)."""
    import numpy as np

    lo, hi = float(xs.min()), float(xs.max())
    edges = np.linspace(lo, hi, bins + 1)
    if not np.all(np.diff(edges) > 0):
        pad = max(abs(hi) * 1e-6, 0.5)
        edges = np.linspace(lo - pad, hi + pad, bins + 1)
    return edges


def stress_latency_chart(results: Results | dict, samples: dict[str, list[float]] | None, path: Path) -> bool:
    """Histogram and CDF of the stress test's task latencies, marked with the run's P50/P95/P99."""
    import numpy as np

    results = Results.parse(results)
    xs = np.asarray([float(x) for x in (samples or {}).get(STRESS_OP, []) if is_number(x)])
    if xs.size < 2:
        return False
    fig = _figure(10, 4, left=0.07, bottom=0.13)
    ax_h, ax_c = fig.subplots(1, 2)
    ax_h.hist(xs, bins=_bin_edges(xs, min(60, max(10, xs.size // 20))), color="#1565c0")
    ax_h.set_xlabel("task latency (ms)")
    ax_h.set_ylabel("tasks")
    ax_h.set_title(f"Task latency, {xs.size:,} samples")
    srt = np.sort(xs)
    ax_c.plot(srt, np.arange(1, srt.size + 1) / srt.size, color="#1565c0")
    # the percentiles the report states (results.json), not a second estimate that could disagree
    stats = results.latency[STRESS_OP] if STRESS_OP in results.latency else LatencySummary()
    for key, style in (("p50", ":"), ("p95", "--"), ("p99", "-.")):
        value = getattr(stats, key)
        if is_number(value):
            ax_c.axvline(value, color="#555", linestyle=style, label=f"{key.upper()} {fmt_ms(value)}")
    ax_c.set_xlabel("task latency (ms)")
    ax_c.set_ylabel("fraction of tasks")
    ax_c.set_title("Cumulative distribution")
    if ax_c.get_legend_handles_labels()[0]:
        ax_c.legend(loc="lower right")
    _save(fig, path)
    return True


def throughput_chart(results: Results | dict, path: Path) -> bool:
    """Completed tasks per interval over the stress test."""
    results = Results.parse(results)
    series = results.stress.throughput_series if results.stress else []
    points = [p for p in series if len(p) == 2 and all(is_number(x) for x in p)]
    if len(points) < 2:
        return False
    fig = _figure(8, 3.5)
    ax = fig.add_subplot()
    ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", color="#6a1b9a")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("tasks finished per interval")
    ax.set_title("Stress throughput over time")
    _save(fig, path)
    return True


def _curve(points: list[list[Any]]) -> tuple[list, list[float], list[float]]:
    """x, equity and buy-and-hold of `[[ts, equity, hold], ...]` (or `[ts, equity]` pairs)."""
    import numpy as np

    rows = [p for p in points if len(p) >= 2 and is_number(p[1])]
    if not rows:
        return [], [], []
    try:  # ISO timestamps (UTC); numpy wants them without the offset
        xs = list(np.array([str(p[0])[:19] for p in rows], dtype="datetime64[s]"))
    except ValueError:
        xs = list(range(len(rows)))
    hold = [float(p[2]) for p in rows if len(p) > 2 and is_number(p[2])]
    return xs, [float(p[1]) for p in rows], hold if len(hold) == len(rows) else []


def equity_chart(results: Results | dict, path: Path) -> bool:
    """Equity of each backtest that carries `equity_curve`, dashed beside buy and hold when given."""
    results = Results.parse(results)
    curves = []
    for b in results.backtests:
        xs, ys, hold = _curve(b.equity_curve or [])
        if len(ys) >= 2:
            curves.append((f"{b.strategy or '?'} / {b.symbol or '?'}", str(b.symbol or "?"), xs, ys, hold))
    if not curves:
        return False
    fig = _figure(8, 4, left=0.12)
    ax = fig.add_subplot()
    holds_drawn = set()
    for label, symbol, xs, ys, hold in curves:
        ax.plot(xs, ys, label=label, linewidth=1)
        if hold and symbol not in holds_drawn:  # one buy-and-hold line per dataset
            holds_drawn.add(symbol)
            ax.plot(xs, hold, linestyle="--", linewidth=0.7, color="#777", label=f"{symbol} buy & hold")
    ax.set_ylabel("equity ($)")
    ax.set_title("Backtest equity curves")
    ax.legend(fontsize="small")
    _save(fig, path)
    return True


def render_charts(results: Results | dict, samples: dict[str, list[float]] | None, charts_dir: Path) -> list[Path]:
    """Draw every chart the evidence supports into `charts_dir`; remove stale ones of ours."""
    import matplotlib

    results = Results.parse(results)
    matplotlib.use("Agg", force=False)
    charts_dir = Path(charts_dir)
    made = []
    jobs = {
        "readiness.png": lambda p: readiness_chart(results, p),
        "stress_latency.png": lambda p: stress_latency_chart(results, samples, p),
        "stress_throughput.png": lambda p: throughput_chart(results, p),
        "equity_curves.png": lambda p: equity_chart(results, p),
    }
    for name, draw in jobs.items():
        path = charts_dir / name
        if draw(path):
            made.append(path)
        elif path.exists():  # a re-render without that evidence must not show an old chart
            path.unlink()
    return made


def trend_chart(runs: list[RunListing], path: Path, bands: tuple[float, float] | None = None) -> bool:
    """Readiness score per run over time, one line per profile (for the runs index).

    `bands` are the pass and marginal thresholds to draw (those of the newest run's spec).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    by_profile: dict[str, list[tuple[int, float]]] = {}
    for i, r in enumerate(runs):
        if is_number(r.readiness_score):
            by_profile.setdefault(str(r.profile or "?"), []).append((i, float(r.readiness_score)))
    if not by_profile:
        return False
    fig = _figure(8, 3.5)
    ax = fig.add_subplot()
    for profile, pts in sorted(by_profile.items()):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=profile)
    for y, color in zip(bands or (), ("#2e7d32", "#f9a825")):
        if is_number(y):
            ax.axhline(y, color=color, linestyle="--", linewidth=0.8)
    ax.set_ylim(0, 100)
    ax.set_xlabel("run (oldest first)")
    ax.set_ylabel("readiness score")
    ax.set_title("Readiness trend")
    ax.legend()
    _save(fig, path)
    return True
