"""The readiness section: each category's score and the checks that move it."""

from __future__ import annotations

from collections import defaultdict

from reports._format import DASH, code, fmt_generic, fmt_int, fmt_score, table
from reports.sections._common import chart, headers, missing, rows, section, text
from validation.evidence import Results

CATEGORY_COLUMNS = [
    ("name", "category", text),
    ("weight", "weight", fmt_generic),
    ("score", "score", fmt_score),
    ("passed", "passed", fmt_int),
    ("evaluated", "evaluated", fmt_int),
]
# which checks exist at all: the report names them, README.md "Readiness score" explains them
SCORED_WHEN = (
    "A check exists only where the spec sets its target: one per `sla` rule (a metric no stage measures "
    "is `nodata`), `cost.per_1000_tasks` with `cost.per_1000_tasks`, one per required document and "
    "dataset, regressions (`*.regression.*`) once the history holds earlier runs; the functional checks, "
    "accounting, leaks and backtest gates are always judged."
)


def readiness(results: Results, charts: set[str]) -> str:
    cats = results.categories
    if not cats:
        return section("Readiness score", missing("category scores"))
    note = (
        "Score = passed ÷ evaluated × 100 per category (missing evidence counts as evaluated and not passed; "
        "a marginal check, whose confidence interval straddles its bound, counts as passed); "
        "readiness = Σ weight × score ÷ 100. The last column lists the checks that move each score, "
        "**critical** ones in bold (they also decide the verdict). " + SCORED_WHEN
    )
    by_cat: defaultdict[str, list[str]] = defaultdict(list)
    for c in results.checks:
        cid = code(c.id)
        by_cat[str(c.category)].append(f"**{cid}**" if c.critical else cid)
    table_rows = [row + [", ".join(by_cat[str(cat.name)]) or DASH] for row, cat in zip(rows(cats, CATEGORY_COLUMNS), cats)]
    body = table(headers(CATEGORY_COLUMNS) + ["checks"], table_rows, "lrrrrl")
    return section("Readiness score", note, body, chart(charts, "readiness.png", "readiness by category"))
