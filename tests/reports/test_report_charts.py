"""Charts are drawn headless from the run's evidence, and only from evidence the run carries."""

from __future__ import annotations

from reports.charts import CHART_NAMES, render_charts
from reports.sections.stress import STRESS_OP

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


def test_equity_curves_in_the_backtest_engines_shape_are_drawn(tmp_path, results):
    """The engine writes `[[ts, equity, hold], ...]`: a first version only read `[x, value]` pairs and drew nothing."""
    from reports.charts import equity_chart

    curve = [["2016-01-04T05:00:00+00:00", 100000.0, 100000.0], ["2016-01-05T05:00:00+00:00", 100310.5, 99870.2],
             ["2016-01-06T05:00:00+00:00", 100450.0, 99610.9]]
    results["backtests"] = [dict(results["backtests"][0], equity_curve=curve)]
    assert equity_chart(results, tmp_path / "e.png") and (tmp_path / "e.png").read_bytes().startswith(PNG)
    results["backtests"][0]["equity_curve"] = [["2016-01-04T05:00:00+00:00", None, 1.0]]
    assert not equity_chart(results, tmp_path / "none.png")
