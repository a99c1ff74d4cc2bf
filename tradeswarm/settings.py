"""All configuration read from the environment, in one place.

Secrets are `SecretStr`: their repr is masked, and code must call `.get_secret_value()`
explicitly at the single point where a client is built. Nothing else may unwrap them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment-driven settings; unknown variables are ignored."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    e2b_api_key: SecretStr | None = Field(default=None, alias="E2B_API_KEY")
    e2b_domain: str | None = Field(default=None, alias="E2B_DOMAIN")
    alpaca_api_key: SecretStr | None = Field(default=None, alias="ALPACA_API_KEY")
    alpaca_api_secret: SecretStr | None = Field(default=None, alias="ALPACA_API_SECRET")
    alpaca_data_url: str | None = Field(default=None, alias="ALPACA_DATA_URL")
    alpaca_trading_url: str | None = Field(default=None, alias="ALPACA_TRADING_URL")
    state_dir: Path = Field(default=Path(".swarm"), alias="TRADESWARM_STATE_DIR")
    pushgateway_url: str | None = Field(default=None, alias="TRADESWARM_PUSHGATEWAY_URL")

    @field_validator("e2b_api_key", "alpaca_api_key", "alpaca_api_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, v):
        """`E2B_API_KEY=` (empty) means no key, not a key that is empty."""
        return None if v is None or (isinstance(v, str) and not v.strip()) else v

    @property
    def provider(self) -> str:
        """`e2b` when an E2B key is configured, else the embedded `local` sandboxd."""
        return "e2b" if self.e2b_api_key is not None else "local"

    @property
    def has_alpaca(self) -> bool:
        return self.alpaca_api_key is not None and self.alpaca_api_secret is not None

    def secret_values(self) -> list[str]:
        """Every configured secret, for scrubbing outputs and for canary tests."""
        secrets = (self.e2b_api_key, self.alpaca_api_key, self.alpaca_api_secret)
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build `Settings(...)` directly instead)."""
    return Settings()


def mask_secrets(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret replaced by `***`, also as it appears inside a JSON string.

    `secrets` defaults to the configured ones; callers writing other encodings (Markdown, XML)
    pass those forms too.

    >>> mask_secrets('{"error": "key abc123 refused"}', ["abc123"])
    '{"error": "key *** refused"}'
    """
    if secrets is None:
        try:
            secrets = Settings().secret_values()
        except Exception:  # invalid settings: nothing configured that could leak
            secrets = []
    for secret in secrets:
        if secret:
            for form in {secret, json.dumps(secret)[1:-1]}:
                text = text.replace(form, "***")
    return text
