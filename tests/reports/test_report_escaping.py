"""Text from agents or data cannot break the report's Markdown, its tables or its HTML."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from markdown_it import MarkdownIt

from reports import markdown_report, summary_rows
from reports._format import one_line

HOSTILE = [
    "a|b||c",
    "`rm -rf /`",
    "line1\nline2\r\n# injected heading",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "# heading",
    "- list item",
    "1. ordered",
    "[click](javascript:alert(1))",
    "**bold** _it_ ~~strike~~",
    "\\|\\`",
    "```\nfenced\n```",
    "\x00\x1b[31mred\x07",
    "&lt;script&gt;",
]

MD = MarkdownIt("commonmark").enable("table")


def _inject(results: dict, s: str) -> dict:
    check = results["checks"][0]
    check.update(id=f"func.{s}", description=s, threshold=s, evidence=s, status="fail", observed=s, unit=s, details={"reason": s})
    results["checks"][1]["waiver"] = {"reason": s, "owner": s, "expires": s, "was": "fail"}
    results["checks"][1]["status"] = "waived"
    results["sandboxes"]["errors"] = [s]
    results["agents"]["by_type"] = {s: 1}
    results["backtests"][0]["strategy"] = s
    results["backtests"][0]["crosscheck"] = {"agree": False, "first_divergence": s, "equity_rel_diff": 0.1}
    results["data_validation"][2]["dataset"] = s
    results["data_validation"][2]["failures"][0].update(expectation=s, column=s, sample=[{"note": s}])
    results["stress"]["errors_by_class"] = {s: 3}
    results["stress"]["per_agent"] = {s: 7}
    results["stress"]["faults"][0]["kind"] = s
    results["stress"]["aborted"], results["stress"]["abort_reason"] = True, s
    results["cost"]["savings"][0]["name"] = s
    results["history"]["regressions"][0]["metric"] = s
    results["versions"][s] = s
    results["profile"] = s
    return results


def _structure(md: str) -> tuple[list[str], list[int]]:
    tokens = MD.parse(md)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    tables, cells, widths = [], 0, []
    for t in tokens:
        if t.type == "table_open":
            widths = []
        elif t.type == "tr_open":
            cells = 0
        elif t.type in ("th_open", "td_open"):
            cells += 1
        elif t.type == "tr_close":
            widths.append(cells)
        elif t.type == "table_close":
            tables.append(widths)
    return headings, [len(set(w)) for w in tables]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_keeps_the_page_structure(results, hostile):
    clean_md = markdown_report(results)
    md = markdown_report(_inject(results, hostile))
    clean_headings, _ = _structure(clean_md)
    headings, table_shapes = _structure(md)
    assert headings == clean_headings  # no injected heading, none swallowed
    assert all(n == 1 for n in table_shapes)  # every row of every table has its header's cell count
    html = MD.render(md)
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    # shown literally, whole, in each place it was injected (a split table cell would break it apart)
    text = htmllib.unescape(re.sub(r"<[^>]+>", "", html))
    assert text.count(one_line(hostile)) >= 15
    assert "<li>list item" not in html and "<ol>" not in html
    assert "\x00" not in md and "\x1b" not in md and "\r" not in md


def test_summary_rows_are_plain_text(results):
    row = summary_rows(_inject(results, "x|y\nz"))[0]
    assert row["check"] == "func.x|y z" and "\n" not in row["target"]
