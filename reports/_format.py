"""Formatting numbers for people and escaping untrusted text for GitHub-flavoured Markdown.

Every number in a report passes through one of the formatters here, so the tests can
check each number on the page against results.json formatted the same way.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

NOT_MEASURED = "not measured in this run"
REPORT_MODE = 0o644  # report files are for analysts: readable by all (secrets and tokens stay 0600)
DASH = "—"

_FRACTION_UNITS = {"ratio", "fraction", "rate", "return"}
_USD_UNITS = {"$", "usd", "USD"}


def is_number(v: Any) -> bool:
    """True for real numbers (bools are not numbers here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_int(v: Any) -> str:
    """`1234` → `1,234`; anything that is not a number → a dash."""
    if not is_number(v):
        return DASH
    return f"{round(v):,}"


def fmt_num(v: Any, digits: int = 2) -> str:
    """A plain number with thousands separators and `digits` decimals: `1,234.57`."""
    if not is_number(v):
        return DASH
    return f"{v:,.{digits}f}"


def _by_magnitude(v: Any, unit: str) -> str:
    """Two decimals below 10, one below 100, none above (with separators), then the unit."""
    if not is_number(v):
        return DASH
    digits = 2 if abs(v) < 10 else 1 if abs(v) < 100 else 0
    return f"{v:,.{digits}f} {unit}"


def fmt_ms(v: Any) -> str:
    """Milliseconds with precision that suits the magnitude: `0.42 ms`, `42.1 ms`, `1,234 ms`."""
    return _by_magnitude(v, "ms")


def fmt_seconds(v: Any) -> str:
    """Seconds: `0.84 s`, `12.3 s`, `1,234 s`."""
    return _by_magnitude(v, "s")


def fmt_pct_value(percent: Any, digits: int = 1) -> str:
    """A number that already is a percentage: `93.4` → `93.4%`."""
    text = fmt_num(percent, digits)
    return text if text == DASH else f"{text}%"


def fmt_pct(fraction: Any, digits: int = 1) -> str:
    """A fraction shown as a percentage: `0.934` → `93.4%`."""
    return fmt_pct_value(fraction * 100 if is_number(fraction) else None, digits)


def fmt_usd(v: Any) -> str:
    """Dollars with cents, or with enough significant digits for tiny costs: `$0.000123`."""
    if not is_number(v):
        return DASH
    a = abs(v)
    sign = "-" if v < 0 else ""
    if a == 0 or a >= 0.1:
        return f"{sign}${a:,.2f}"
    # three significant digits: a $0.000014 vCPU-second must not print as $0.00
    digits = min(-int(math.floor(math.log10(a))) + 2, 10)
    text = f"{a:.{digits}f}".rstrip("0")
    return f"{sign}${text}"


def fmt_score(v: Any) -> str:
    """A 0..100 score with one decimal: `93.5`."""
    return fmt_num(v, 1)


def fmt_signed(text: str, v: Any) -> str:
    """Prefix a formatted number with `+` when the raw value is positive (deltas)."""
    return f"+{text}" if is_number(v) and v > 0 else text


def fmt_bytes(v: Any) -> str:
    """Bytes in binary units: `1.5 MiB`."""
    if not is_number(v):
        return DASH
    size = float(v)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def fmt_generic(v: Any) -> str:
    """A number of unknown meaning: integers with separators, floats with sensible digits."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not is_number(v):
        return DASH if v is None else one_line(v)
    if float(v).is_integer() and abs(v) < 1e15:
        return fmt_int(v)
    if abs(v) >= 1:
        return fmt_num(v, 2)
    return f"{v:.3g}"


def fmt_keyed(key: str, v: Any) -> str:
    """A value named by a key, formatted by the key's unit suffix (`_ms`, `_s`, `_usd`, `_pct`, `_bytes`)."""
    if not is_number(v):
        return fmt_generic(v)
    if key == "pid" or key.endswith("_id"):  # identifiers, not quantities
        return str(v)
    for suffix, fmt in (("_ms", fmt_ms), ("_usd", fmt_usd), ("_pct", fmt_pct_value), ("_bytes", fmt_bytes), ("_s", fmt_seconds)):
        if key.endswith(suffix):
            return fmt(v)
    return fmt_generic(v)


def fmt_value(v: Any, unit: str | None = None) -> str:
    """A check's observed value with its unit, formatted by the unit's kind (plain text, not escaped)."""
    if v is None:
        return NOT_MEASURED
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not is_number(v):
        return one_line(v)
    unit = one_line(unit) if unit is not None else ""
    if unit == "ms":
        return fmt_ms(v)
    if unit == "s":
        return fmt_seconds(v)
    if unit == "%" or unit.startswith("% "):  # "% median change"
        return fmt_pct_value(v) + unit[1:]
    if unit in _FRACTION_UNITS:
        return fmt_pct(v)
    if unit in _USD_UNITS:
        return fmt_usd(v)
    if unit.split("/", 1)[0] in _USD_UNITS:  # "USD/day"
        return f"{fmt_usd(v)}/{unit.split('/', 1)[1]}"
    text = fmt_int(v) if float(v).is_integer() else fmt_num(v, 3 if abs(v) < 1 else 2)
    return f"{text} {one_line(unit)}" if unit and unit not in {"count", "n"} else text


def fmt_time(iso: Any) -> str:
    """A UTC ISO-8601 timestamp as `2026-11-27 22:05:13 UTC` (other text is escaped as is)."""
    if not isinstance(iso, str) or not iso:
        return DASH
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:Z|[+-]00:?00)", iso)
    return f"{m.group(1)} {m.group(2)} UTC" if m else esc(iso)


# ---------------------------------------------------------------- escaping untrusted text

_INLINE = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "~": "\\~",
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
    }
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def one_line(text: Any) -> str:
    """Collapse newlines and control characters so text stays inside its table cell or line."""
    s = _CONTROL.sub("", str(text))
    return " ".join(s.split())


def esc(text: Any, limit: int = 300) -> str:
    """Escape text from agents or data so it renders literally in a Markdown line or table cell.

    >>> esc("a|b\\n# c <script>")
    'a\\\\|b \\\\# c &lt;script&gt;'
    """
    s = one_line(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.translate(_INLINE)
    # "# x", "- x" or "1. x" would start a heading or a list where the text begins a list item
    s = re.sub(r"^([#+\-=])(?=\s|$)", r"\\\1", s)
    s = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", s)
    return s


def code(text: Any, limit: int = 120) -> str:
    """Text as an inline code span, safe in a table cell whatever backticks or pipes it holds."""
    s = one_line(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    if not s:
        return DASH
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or longest else ""
    # GFM splits table cells on | before it parses code spans; \| survives as a literal |
    s = s.replace("|", "\\|")
    return f"{fence}{pad}{s}{pad}{fence}"


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; `align` is one of l/r/c per column (default left).

    Cells must already be formatted or escaped.
    """
    headers = list(headers)
    align = align or "l" * len(headers)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    for row in rows:
        cells = [c if c != "" else DASH for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def kv_table(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of already formatted name/value pairs."""
    return table(["", "value"], ([k, v] for k, v in pairs), "lr")
