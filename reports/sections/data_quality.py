"""The data-quality section: each dataset against its contract, and the expectations it failed."""

from __future__ import annotations

import json

from reports._format import DASH, code, fmt_int, is_number, table
from reports.sections._common import headers, missing, rows, section, status_text, text
from validation.evidence import Results

DATA_COLUMNS = [
    ("dataset", "dataset", text),
    ("rows", "rows", fmt_int),
    ("expectations", "expectations", fmt_int),
    ("failed", "failed", fmt_int),
]
FAILURE_COLUMNS = [  # fields of data_validation[].failures[]
    ("expectation", "expectation", text),
    ("column", "column", text),
    ("unexpected_count", "unexpected", fmt_int),
]


def _sample(sample: list | None) -> str:
    """Up to three sample rows of a failed expectation, as JSON."""
    return code(json.dumps(sample[:3], default=str)) if sample else DASH


def data_quality(results: Results) -> str:
    dv = results.data_validation
    if not dv:
        return section("Data quality", missing("data validation"))
    table_rows = [
        cells + [status_text("pass" if d.failed == 0 else "fail") if is_number(d.failed) else DASH]
        for d, cells in zip(dv, rows(dv, DATA_COLUMNS))
    ]
    blocks = [table(headers(DATA_COLUMNS) + ["status"], table_rows, "lrrrl")]
    failing = [[text(d.dataset)] + rows([f], FAILURE_COLUMNS)[0] + [_sample(f.sample)] for d in dv for f in d.failures]
    if failing:
        blocks.append("Failing expectations (up to three sample rows each):\n\n"
                      + table(["dataset"] + headers(FAILURE_COLUMNS) + ["sample rows"], failing, "lllrl"))
    return section("Data quality", *blocks)
