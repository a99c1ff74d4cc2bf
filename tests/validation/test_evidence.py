"""Typed evidence (validation/evidence): old results.json files load, bad ones are refused in one
line, the schema command prints the schema, and docs/contracts.md agrees with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from validation.evidence import VERSION, Results, ResultsError, results_schema
from validation.evidence.contract_doc import documented_block, replace_block, results_contract

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "reports" / "golden" / "results.json"


def _golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_a_results_json_from_before_typed_evidence_loads_and_dumps_back_unchanged():
    doc = _golden()
    assert "version" not in doc  # written before the typed evidence
    r = Results.parse(doc)
    assert r.version == 1 and r.stress.phases["steady"].completed == doc["stress"]["phases"]["steady"]["completed"]
    assert r.dump() == doc  # every key kept, none added (unknown ones included)


def test_unknown_keys_are_kept_where_old_files_have_them():
    doc = _golden()
    doc["stress"]["a_field_from_elsewhere"] = {"x": 1}
    doc["checks"][0]["extra"] = "kept"
    dumped = Results.parse(doc).dump()
    assert dumped["stress"]["a_field_from_elsewhere"] == {"x": 1} and dumped["checks"][0]["extra"] == "kept"


def test_a_newer_version_or_another_schema_is_refused_in_one_line():
    with pytest.raises(ResultsError, match=rf"^results.json is results version {VERSION + 1}; this tradeswarm reads versions 1 to {VERSION}$"):
        Results.parse(_golden() | {"version": VERSION + 1})
    with pytest.raises(ResultsError, match="has schema 'other/v9'"):
        Results.parse(_golden() | {"schema": "other/v9"})
    assert Results.parse(_golden() | {"version": VERSION}).version == VERSION  # the current one loads


def test_a_wrong_type_is_refused_naming_the_field_and_never_coerced():
    doc = _golden()
    doc["stress"]["completed"] = "983"
    with pytest.raises(ResultsError) as e:
        Results.parse(doc)
    assert str(e.value).startswith("results.json: stress.completed: ") and "\n" not in str(e.value)
    doc["stress"]["completed"] = 983
    assert Results.parse(doc).stress.completed == 983


def test_absent_and_null_stay_different():
    doc = _golden()
    del doc["sandboxes_leaked"]
    r = Results.parse(doc)
    assert not r.has("sandboxes_leaked") and "sandboxes_leaked" not in r.dump()
    r = Results.parse(doc | {"sandboxes_leaked": None})
    assert r.has("sandboxes_leaked") and r.dump()["sandboxes_leaked"] is None


def test_results_schema_command_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "tradeswarm", "results", "schema", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(json.dumps(results_schema()))
    assert {"verdict", "checks", "stress", "version"} <= set(json.loads(out.stdout)["properties"])


def test_the_contracts_doc_lists_the_models_as_the_schema_has_them():
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    assert documented_block(text) == results_contract(), (
        "docs/contracts.md §6 disagrees with validation.evidence: run "
        "`python -m validation.evidence.contract_doc docs/contracts.md`")


def test_the_doc_check_notices_a_changed_model(monkeypatch):
    """The other side: a field added to a model makes the documented block stale."""
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    schema = results_schema()
    schema["properties"]["new_field"] = {"type": "integer"}
    monkeypatch.setattr("validation.evidence.contract_doc.results_schema", lambda: schema)
    assert documented_block(text) != results_contract()
    assert documented_block(replace_block(text)) == results_contract()  # regenerating fixes it
