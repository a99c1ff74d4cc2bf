"""The report says which research results were served from the cache, from which run and code."""

from __future__ import annotations

from reports.markdown import markdown_report

CODE = "ab12" * 16


def _cache(served: bool, **extra) -> dict:
    rows = [{"stage": "backtests", "task": "backtest", "item": "sma_crossover/SPX", "from_run": "20261207T2100Z-smoke-aaaaaa",
             "code_sha256": CODE}] if served else []
    return {"enabled": True, "refresh": False, "reason": None, "directory": "/x/.swarm/cache", "code_sha256": CODE,
            "libraries": {}, "stages": {"data": {"computed": 1, "cached": 0, "from_runs": []},
                                        "backtests": {"computed": 0 if served else 1, "cached": int(served),
                                                      "from_runs": ["20261207T2100Z-smoke-aaaaaa"] if served else []}},
            "served": rows, **extra}


def test_served_results_name_the_run_and_code_that_computed_them(results):
    md = markdown_report({**results, "cache": _cache(True)})
    assert "Result cache" in md and "20261207T2100Z-smoke-aaaaaa" in md and CODE[:12] in md
    assert "nothing served from the cache" not in md
    # the opposite: every result computed in the run
    fresh = markdown_report({**results, "cache": _cache(False)})
    assert "nothing served from the cache" in fresh and "20261207T2100Z-smoke-aaaaaa" not in fresh


def test_a_disabled_or_refreshed_cache_says_so(results):
    off = markdown_report({**results, "cache": _cache(False, enabled=False, reason="cache directory unusable: x")})
    assert "not used (cache directory unusable: x)" in off
    assert "refreshed (`--no-cache`)" in markdown_report({**results, "cache": _cache(False, refresh=True)})
