"""What every spec section shares: unknown keys refused, defaults validated; the one error type."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpecError(ValueError):
    """The spec is invalid; the message names the source and the key path of each problem."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)
