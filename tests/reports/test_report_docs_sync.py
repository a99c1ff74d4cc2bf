"""Every results.json key the report shows is documented in reports/README.md."""

from __future__ import annotations

from pathlib import Path

from reports.markdown import markdown_report, shown_keys

README = (Path(__file__).resolve().parents[2] / "reports" / "README.md").read_text(encoding="utf-8")


def test_every_shown_key_is_documented():
    missing = [k for k in shown_keys() if f"`{k}`" not in README]
    assert not missing, f"document these keys in reports/README.md: {missing}"


def test_shown_keys_are_really_shown(results):
    """The list the docs are checked against is not a wish list: removing a key changes the page."""
    md = markdown_report(results)
    for key in ("stress.lost", "portfolio.cash", "backtests[].sortino", "cost.budget_daily_usd", "categories[].evaluated"):
        assert key in shown_keys()
    results["portfolio"].pop("cash")
    assert markdown_report(results) != md
