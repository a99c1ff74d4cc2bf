"""How a run is judged: required documents, scoring weights and bands, waivers, history comparison."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated, Any

from pydantic import AliasChoices, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from validation.spec.base import Strict as _Strict
from validation.spec.metrics import CATEGORIES, CHECK_PREFIXES


class RequiredDoc(_Strict):
    """An operator document the certification checks on disk (see validation.docs_check)."""

    path: str
    headings: list[str] = Field(default_factory=list, description="each must exist with a non-empty section")
    mentions: list[str] = Field(default_factory=list, description="text that must appear; {version} = the project version")
    covers: list[str] = Field(default_factory=list, description="code paths the doc describes; it must not be older than them by more than grace_days")
    max_age_days: int | None = Field(None, ge=0, description="with no `covers`: last change within this many days")


class DocumentationSpec(_Strict):
    grace_days: int = Field(14, ge=0)
    required: list[RequiredDoc] = Field(default_factory=list)


class ScoringSpec(_Strict):
    weights: dict[str, float] = Field(
        default_factory=lambda: {"functionality": 30, "performance": 25, "cost": 20, "reliability": 15, "documentation": 10}
    )
    pass_threshold: float = Field(90.0, ge=0, le=100, alias="pass", serialization_alias="pass")
    marginal: float = Field(75.0, ge=0, le=100)

    @field_validator("weights")
    @classmethod
    def _weights(cls, w: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(w) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown} (known: {', '.join(CATEGORIES)})")
        missing = sorted(set(CATEGORIES) - set(w))
        if missing:
            raise ValueError(f"missing weights for {missing}")
        if any(v < 0 for v in w.values()):
            raise ValueError("weights must not be negative")
        total = sum(w.values())
        if abs(total - 100) > 1e-9:
            raise ValueError(f"weights must sum to 100, they sum to {total:g}")
        return {k: float(v) for k, v in w.items()}

    @model_validator(mode="after")
    def _order(self) -> "ScoringSpec":
        if self.marginal > self.pass_threshold:
            raise ValueError(f"marginal ({self.marginal:g}) must not exceed pass ({self.pass_threshold:g})")
        return self


_WAIVER_PATTERN = rf"^({'|'.join(CHECK_PREFIXES)})\."
_EXPIRY_SCHEMA = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


def _expiry_alias(schema: dict) -> None:
    """`expiry` is accepted in place of `expires` (one of the two, not both)."""
    schema["properties"]["expiry"] = {**schema["properties"]["expires"], "title": "Expiry", "description": "same as `expires`"}
    schema["required"] = [k for k in schema["required"] if k != "expires"]
    schema["oneOf"] = [{"required": ["expires"]}, {"required": ["expiry"]}]


class Waiver(_Strict):
    """Accept one failed check for a while: reason, owner and expiry are required.

    A waiver covers a measured failure only, never missing evidence (validation.checks.apply_waivers).
    """

    model_config = ConfigDict(json_schema_extra=_expiry_alias)  # merged with _Strict's

    check: str = Field(min_length=1, pattern=_WAIVER_PATTERN,
                       description="a check id, or an fnmatch pattern within one category (e.g. 'doc.*')")
    reason: str = Field(min_length=10)
    owner: str = Field(min_length=1)
    expires: Annotated[datetime, WithJsonSchema(_EXPIRY_SCHEMA)] = Field(
        validation_alias=AliasChoices("expires", "expiry"),
        description="a date (through that day, UTC) or a timestamp; also accepted as `expiry`")

    @field_validator("check", mode="before")
    @classmethod
    def _one_category(cls, v: Any) -> Any:
        # a pattern such as '*' would waive every failure of the run: a spec error, said plainly
        if isinstance(v, str) and v and not re.match(_WAIVER_PATTERN, v):
            prefixes = ", ".join(f"'{p}.'" for p in CHECK_PREFIXES)
            raise ValueError(f"{v!r} is not within one category: a waiver names a check id or a pattern "
                             f"starting with {prefixes} (e.g. 'doc.*'), never one that matches every check")
        return v

    @field_validator("expires", mode="before")
    @classmethod
    def _day_end(cls, v: Any) -> Any:
        # a bare date means "through that day" (UTC)
        if isinstance(v, str) and len(v.strip()) == 10:
            try:
                v = date.fromisoformat(v.strip())
            except ValueError:
                return v
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime(v.year, v.month, v.day, 23, 59, 59, tzinfo=timezone.utc)
        return v

    @field_validator("expires")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)

    def active(self, now: datetime) -> bool:
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
        return now <= self.expires


class HistorySpec(_Strict):
    """Comparison with the last `k` runs of the same profile."""

    k: int = Field(5, ge=0)
    alpha: float = Field(0.02, gt=0, lt=1, description="Mann-Whitney U significance (0.02 = Kayenta's 98 %)")
    min_samples: int = Field(5, ge=3, description="fewest samples per side to compare (the U test must also be "
                                                  "able to reach alpha with them)")
    latency_warn_pct: float = Field(10.0, ge=0)
    latency_fail_pct: float = Field(25.0, ge=0)
    cost_warn_pct: float = Field(10.0, ge=0)
    cost_fail_pct: float = Field(25.0, ge=0)

    @model_validator(mode="after")
    def _bands(self) -> "HistorySpec":
        if self.latency_warn_pct > self.latency_fail_pct or self.cost_warn_pct > self.cost_fail_pct:
            raise ValueError("warn bands must not exceed fail bands")
        return self
