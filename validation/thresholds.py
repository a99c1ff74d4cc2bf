"""Threshold expressions in a k6-like grammar, parsed once with errors that say what was expected.

Grammar (whitespace between tokens is optional):

```
expression := [aggregate] comparator number [unit]
aggregate  := p50 | p90 | p95 | p99 | p999 | p(N) | max | min | mean | avg | count | rate | value
comparator := <  <=  >  >=  ==  !=
number     := [$] decimal            e.g. 5000, 0.90, 1e-3, $5.00
unit       := ms | s | % | $
```

`p(N)` is k6's form of a percentile, read by its number: `p(95)` is `p95`, `p(99.9)` is `p999`.
k6 takes any 0 < N < 100, but a threshold can only be judged on a percentile the latency
summaries compute (`PERCENTILES`: 50, 90, 95, 99, 99.9, as `tradeswarm.stress.stats` reports
them), so any other N is rejected with the list of those that are.

Values are normalised to a base unit so they compare with measured figures directly: time to
milliseconds (`5s` → 5000), percent to a fraction (`90%` → 0.9), dollars to USD. `str()` gives
the canonical form, and `parse(str(t)) == t` holds for every threshold.

>>> t = parse("p95 < 5s")
>>> t.aggregate, t.op, t.value, t.unit
('p95', '<', 5000.0, 's')
>>> t.holds(4200.0), str(t)
(True, 'p95 < 5s')
>>> parse("rate >= 90%").value
0.9

A measured figure carries noise. `judge_interval` judges it by its confidence interval: `pass`
when the whole interval meets the bound, `fail` when none of it does, and `marginal` when the
interval straddles the bound (the point estimate's side of it is a coin flip between runs):

>>> judge_interval(parse("p95 < 100ms"), 90.0, [80.0, 110.0])
'marginal'
>>> judge_interval(parse("< 5%"), 0.0, wilson_interval(0, 100))
'pass'
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from functools import lru_cache

COMPARATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
# base-unit factor and the dimension each unit measures
UNITS: dict[str, tuple[float, str]] = {"ms": (1.0, "time"), "s": (1000.0, "time"), "%": (0.01, "ratio"), "$": (1.0, "money")}
# the percentiles the latency summaries carry (docs/contracts.md §5): name → percentile in %
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
AGGREGATES = (*PERCENTILES, "max", "min", "mean", "avg", "count", "rate", "value")

_AGG = re.compile(r"\s*(p\(\s*(?P<pct>\d+(?:\.\d+)?)\s*\)|[A-Za-z_][A-Za-z0-9_]*)")
_CMP = re.compile(r"\s*(<=|>=|==|!=|<|>)")
_NUM = re.compile(r"\s*(?P<dollar>\$)?\s*(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)")
_UNIT = re.compile(r"\s*(ms|s|%|\$)")


# two-sided 95 % normal quantile: the level of the latency summaries' bootstrap CIs as well
Z95 = 1.959963984540054


class ThresholdError(ValueError):
    """A threshold expression that does not parse; the message names it and what was expected."""


@dataclass(frozen=True)
class Threshold:
    """One parsed comparison: `aggregate op number unit`, with `value` in the base unit."""

    aggregate: str | None
    op: str
    number: float
    unit: str | None

    @property
    def value(self) -> float:
        """The bound in base units (ms, fraction, USD)."""
        return self.number * (UNITS[self.unit][0] if self.unit else 1.0)

    @property
    def dimension(self) -> str | None:
        """`time`, `ratio`, `money`, or None for a bare number."""
        return UNITS[self.unit][1] if self.unit else None

    def holds(self, observed: float) -> bool:
        """True when the observed value (base units) satisfies the bound; NaN never does."""
        if observed is None or (isinstance(observed, float) and math.isnan(observed)):
            return False
        return bool(COMPARATORS[self.op](observed, self.value))

    def __str__(self) -> str:
        lhs = f"{self.aggregate} " if self.aggregate else ""
        return f"{lhs}{self.op} {_fmt(self.number)}{self.unit or ''}"


def _fmt(x: float) -> str:
    """Shortest exact text of a float, without a trailing `.0`."""
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


def _fail(text: str, pos: int, expected: str) -> ThresholdError:
    rest = text[pos:].strip()
    found = f"found {rest.split()[0]!r}" if rest else "found the end"
    return ThresholdError(f"threshold {text!r}: expected {expected} at position {pos}, {found}")


def _percentile_name(text: str, n: float) -> str:
    """The aggregate `p(n)` stands for, by the number's value (so `p(9.99)` is not `p(99.9)`)."""
    if not 0 < n < 100:
        raise ThresholdError(f"threshold {text!r}: a percentile p(N) needs 0 < N < 100, got {_fmt(n)}")
    for name, q in PERCENTILES.items():
        if n == q:
            return name
    known = ", ".join(f"p({_fmt(q)})" for q in PERCENTILES.values())
    raise ThresholdError(f"threshold {text!r}: percentile {_fmt(n)} is not computed by the latency summaries "
                         f"(computed: {known})")


@lru_cache(maxsize=1024)
def parse(text: str) -> Threshold:
    """Parse one expression; raise `ThresholdError` naming the expression and what was expected."""
    if not isinstance(text, str):
        raise ThresholdError(f"threshold {text!r}: expected a string such as 'p95 < 5000ms'")
    pos, aggregate = 0, None
    m = _AGG.match(text, pos)
    if m:
        word = m.group(1)
        if m.group("pct"):
            word = _percentile_name(text, float(m.group("pct")))
        if word not in AGGREGATES:
            raise _fail(text, pos, f"an aggregate ({', '.join(AGGREGATES)}, p(N)) or a comparator")
        aggregate, pos = word, m.end()
    m = _CMP.match(text, pos)
    if not m:
        raise _fail(text, pos, "a comparator (<, <=, >, >=, ==, !=)")
    op, pos = m.group(1), m.end()
    m = _NUM.match(text, pos)
    if not m:
        raise _fail(text, pos, "a number (e.g. 5000, 0.90, $5.00)")
    number, pos = float(m.group("num")), m.end()
    unit = "$" if m.group("dollar") else None
    m = _UNIT.match(text, pos)
    if m:
        if unit is not None and m.group(1) != "$":
            raise _fail(text, pos, "nothing after a $ amount")
        unit, pos = m.group(1), m.end()
    if text[pos:].strip():
        raise _fail(text, pos, "a unit (ms, s, %, $) or the end")
    if not math.isfinite(number):
        raise _fail(text, 0, "a finite number")
    return Threshold(aggregate, op, number, unit)


def wilson_interval(k: float, n: float, z: float = Z95) -> list[float] | None:
    """Wilson score interval of a proportion k/n (None without trials); sound at k = 0 and k = n.

    >>> [round(x, 4) for x in wilson_interval(2, 100)]
    [0.0055, 0.07]
    """
    if not n or n <= 0 or k < 0 or k > n:
        return None
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # the interval holds p exactly (at k = 0 the lower end is 0, not float dust above it)
    return [max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))]


def judge_interval(t: Threshold, point: float, ci) -> str:
    """`pass`, `marginal` or `fail` of a measured value with its confidence interval `[lo, hi]`.

    The interval is widened to hold the point estimate (an HDR percentile can sit a bucket
    outside its bootstrap interval). Only an ordering bound (<, <=, >, >=) can be straddled;
    `==`, `!=` or a missing/invalid interval judge the point alone.
    """
    point_status = "pass" if t.holds(point) else "fail"
    if t.op in ("==", "!=") or not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return point_status
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in ci):
        return point_status
    lo, hi = min(ci[0], ci[1], point), max(ci[0], ci[1], point)
    ends = (t.holds(lo), t.holds(hi))
    return "pass" if all(ends) else "fail" if not any(ends) else "marginal"
