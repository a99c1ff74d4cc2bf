"""Settings: secrets masked, the provider picked from the environment."""

from __future__ import annotations

from tradeswarm.settings import Settings



def test_settings_mask_secrets_and_pick_provider():
    s = Settings(E2B_API_KEY="canary-e2b-123", ALPACA_API_KEY="canary-k", ALPACA_API_SECRET="canary-s")
    assert s.provider == "e2b" and s.has_alpaca
    assert "canary" not in repr(s) and "canary" not in str(s.model_dump())
    assert sorted(s.secret_values()) == ["canary-e2b-123", "canary-k", "canary-s"]
    assert Settings().provider in {"local", "e2b"}
    assert Settings(E2B_API_KEY=None).provider == "local"


def test_blank_keys_count_as_unset():
    """Regression: `E2B_API_KEY=""` selected E2B's cloud and hung resolving its host."""
    s = Settings(E2B_API_KEY="", ALPACA_API_KEY="  ", ALPACA_API_SECRET="x")
    assert s.provider == "local" and not s.has_alpaca and s.secret_values() == ["x"]
