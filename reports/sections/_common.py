"""What the report's sections share: headings, missing-evidence lines, name/value tables,
latency tables and the generic formatting of a recorded value."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Sequence

from pydantic import BaseModel

from reports._format import (
    DASH, NOT_MEASURED, code, esc, fmt_generic, fmt_int, fmt_keyed, fmt_ms, fmt_num, is_number, kv_table, one_line, table,
)
from validation.evidence import Record, Results

STATUS_MARK = {"pass": "✓", "fail": "✗", "warn": "⚠", "marginal": "≈", "nodata": "✗", "error": "✗", "waived": "○"}
STATUS_LABEL = {"nodata": "no data"}
PCTS = (("p50", "P50"), ("p95", "P95"), ("p99", "P99"))
Column = tuple[str, str, Callable[[Any], str]]  # (field, header or label, formatter)


def yes_no(v: Any) -> str:
    return DASH if v is None else ("yes" if v else "no")


def text(v: Any) -> str:
    return esc(v) if v is not None else DASH


def num1(v: Any) -> str:
    return fmt_num(v, 1)


def num3(v: Any) -> str:
    return fmt_num(v, 3)


def status_text(status: Any) -> str:
    """`pass` → `✓ pass`, `nodata` → `✗ no data`; unknown statuses are shown as they are."""
    s = one_line(status) if status is not None else "unknown"
    return f"{STATUS_MARK.get(s, '?')} {STATUS_LABEL.get(s, s)}"


def reported(record: Record | None) -> bool:
    """Whether a stage reported this record with anything in it (an empty one is missing)."""
    return record is not None and bool(record.model_fields_set or record.model_extra)


def section(title: str, *blocks: str | None) -> str:
    body = [b for b in blocks if b]
    return "\n\n".join([f"## {title}", *(body or [f"_{NOT_MEASURED}._"])])


def missing(what: str) -> str:
    return f"_{what}: {NOT_MEASURED}._"


def kv_pairs(record: Record, fields: Iterable[Column]) -> list[tuple[str, str]]:
    """(label, value) of the fields the stage reported."""
    return [(label, fmt(getattr(record, key))) for key, label, fmt in fields if record.has(key)]


def kv(record: Record, fields: Iterable[Column]) -> str:
    """Name/value rows for the fields the stage reported."""
    pairs = kv_pairs(record, fields)
    return kv_table(pairs) if pairs else ""


def rows(items: Iterable[Record], columns: Sequence[Column]) -> list[list[str]]:
    """Table cells of `items`, one column per (field, header, formatter)."""
    return [[fmt(getattr(item, key)) for key, _, fmt in columns] for item in items]


def headers(columns: Sequence[Column]) -> list[str]:
    return [header for _, header, _ in columns]


def chart(charts: set[str], name: str, alt: str) -> str | None:
    return f"![{alt}](charts/{name})" if name in charts else None


def plain(v: Any) -> Any:
    """A record as the JSON it was read from (for values shown generically)."""
    if isinstance(v, BaseModel):
        return v.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return v


def generic_value(key: str, v: Any) -> str | None:
    """One recorded value, formatted by its key; lists of scalars joined, nested records as code."""
    v = plain(v)
    if v is None:
        return None
    if isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v):
            return "; ".join(esc(fmt_generic(x)) for x in v) if v else None
        return code(json.dumps(v, default=str))
    if isinstance(v, dict):
        return code(json.dumps(v, default=str)) if v else None
    return esc(fmt_keyed(key, v))


def generic_dict(d: dict[str, Any] | Record | None, *, scalars_only: bool = False) -> str:
    """`key value` pairs of a small dict of measurements, each value formatted by its key.

    `scalars_only` leaves out nested lists and records (for narrow table cells).
    """
    d = plain(d)
    if not d:
        return DASH
    pairs = [(k, generic_value(str(k), v)) for k, v in d.items() if not (scalars_only and isinstance(v, (list, dict)))]
    return ", ".join(f"{esc(k)} {shown}" for k, shown in pairs if shown is not None) or DASH


def generic_entry(key: str, v: Any) -> str:
    """One item of an open-ended mapping (a cost breakdown): a record as pairs, a value by its key."""
    return generic_dict(v) if isinstance(v, dict) else esc(fmt_keyed(key, v))


def _ci(ci: Sequence[Any] | None) -> str:
    if ci is not None and len(ci) == 2 and all(is_number(x) for x in ci):
        return f"{fmt_ms(ci[0])} – {fmt_ms(ci[1])}"
    return DASH


def latency_table(results: Results, ops: Iterable[str], pcts: Sequence[tuple[str, str]] = PCTS) -> str | None:
    """Percentiles per operation; a percentile the samples cannot support says so."""
    out = []
    for op in ops:
        if op not in results.latency:
            continue
        st = results.latency[op]
        row = [code(op), fmt_int(st.count)]
        for key, _label in pcts:
            if key in st.insufficient:
                row.append("insufficient samples")
                if key in ("p95", "p99"):
                    row.append(DASH)
                continue
            row.append(fmt_ms(getattr(st, key)))
            if key in ("p95", "p99"):
                row.append(_ci(getattr(st, f"{key}_ci")))
        row.append(fmt_ms(st.max))
        out.append(row)
    if not out:
        return None
    heads = ["operation", "samples"]
    for key, label in pcts:
        heads.append(label)
        if key in ("p95", "p99"):
            heads.append(f"{label} CI")
    heads.append("max")
    return table(heads, out, "lr" + "r" * (len(heads) - 2))
