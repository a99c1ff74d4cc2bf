"""Charts are drawn headless from the run's evidence, and only from evidence the run carries."""

from __future__ import annotations

from reports.charts import CHART_NAMES, render_charts
from reports.markdown import STRESS_OP

PNG = b"\x89PNG\r\n\x1a\n"


def test_all_charts_from_a_complete_run(tmp_path, results, samples):
    made = render_charts(results, samples, tmp_path / "charts")
    assert sorted(p.name for p in made) == sorted(CHART_NAMES)
    for p in made:
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 5000


def test_missing_evidence_draws_nothing_and_removes_stale_charts(tmp_path, results, samples):
    charts = tmp_path / "charts"
    render_charts(results, samples, charts)
    for b in results["backtests"]:
        b.pop("equity_curve", None)
    results["stress"]["throughput_series"] = []
    made = render_charts(results, None, charts)
    assert [p.name for p in made] == ["readiness.png"]
    assert sorted(p.name for p in charts.iterdir()) == ["readiness.png"]


def test_latency_chart_follows_the_samples(tmp_path, results, samples):
    a = render_charts(results, samples, tmp_path / "a")
    samples[STRESS_OP] = [x * 10 for x in samples[STRESS_OP]]
    b = render_charts(results, samples, tmp_path / "b")
    pick = lambda paths: next(p for p in paths if p.name == "stress_latency.png").read_bytes()  # noqa: E731
    assert pick(a) != pick(b)
