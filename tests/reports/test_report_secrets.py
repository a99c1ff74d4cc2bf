"""A secret quoted in an error message never reaches report.md or junit.xml."""

from __future__ import annotations

from reports import render


def test_configured_keys_are_masked_in_every_written_file(tmp_path, results, samples, monkeypatch):
    key, secret = "e2b_9f8d7c6b5a4_SECRET", "alpaca<secret>&_x"
    monkeypatch.setenv("E2B_API_KEY", key)
    monkeypatch.setenv("ALPACA_API_KEY", "AKTEST")
    monkeypatch.setenv("ALPACA_API_SECRET", secret)
    results["errors"] = {"provision": f"401 Unauthorized: api key {key} rejected"}
    results["sandboxes"]["errors"] = [f"create failed with {secret}"]
    results["checks"][0].update(status="error", observed=f"bad key {key}", evidence=f"alpaca {secret}")
    render(results, tmp_path, samples=samples)
    for name in ("report.md", "junit.xml"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "SECRET" not in text and "9f8d7c6b5a4" not in text and "alpaca&lt;secret" not in text and "alpaca<secret" not in text
        assert "***" in text  # the message is kept, the key is masked


def test_without_configured_keys_nothing_is_masked(tmp_path, results, samples, monkeypatch):
    for var in ("E2B_API_KEY", "ALPACA_API_KEY", "ALPACA_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    results["errors"] = {"provision": "401 Unauthorized: api key e2b_visible rejected"}
    render(results, tmp_path, samples=samples)
    assert "e2b\\_visible" in (tmp_path / "report.md").read_text(encoding="utf-8")
