"""The judge: certification spec, threshold expressions, checks, cost, scoring, verdict, history.

Pure logic (no Prefect). The data contract (`validation.contract`, great-expectations), the
reference simulator and the backtest gates live beside it and are imported on their own.

```python
from validation import load_spec, SpecError, judge
spec = load_spec("smoke")
j = judge(spec, evidence, now=datetime.now(timezone.utc), repo_root=Path("."))
j.verdict, j.readiness_score
```
"""

from __future__ import annotations

from validation.checks import Check
from validation.history import load_history
from validation.judge import Judgement, judge  # the function shadows the submodule's name on purpose
from validation.spec import Spec, SpecError, json_schema, load_spec
from validation.thresholds import ThresholdError
from validation.thresholds import parse as parse_threshold

__all__ = ["Check", "Judgement", "Spec", "SpecError", "ThresholdError", "judge", "json_schema", "load_history",
           "load_spec", "parse_threshold"]
