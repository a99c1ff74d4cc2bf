"""The judge: certification spec, threshold expressions, checks, cost, scoring, verdict, history.

Pure logic (no Prefect). The names below are imported lazily so that importing one submodule
(e.g. `validation.contract`, which pulls great-expectations) does not load the others.

```python
from validation import load_spec, SpecError, judge
spec = load_spec("smoke")
j = judge(spec, evidence, now=datetime.now(timezone.utc), repo_root=Path("."))
j.verdict, j.readiness_score
```
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "load_spec": "validation.spec",
    "Spec": "validation.spec",
    "SpecError": "validation.spec",
    "json_schema": "validation.spec",
    "ThresholdError": "validation.thresholds",
    "parse_threshold": ("validation.thresholds", "parse"),
    "judge": "validation.judge",
    "Judgement": "validation.judge",
    "Check": "validation.checks",
    "load_history": "validation.history",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'validation' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    return getattr(import_module(module), attr)
