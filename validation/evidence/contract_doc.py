"""The results section of docs/contracts.md, generated from the evidence models' JSON Schema.

`results_contract()` is the Markdown between the `results-schema` markers of docs/contracts.md
§6; tests/validation/test_evidence.py fails when the two disagree. Regenerate with
`python -m validation.evidence.contract_doc docs/contracts.md`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from validation.evidence.results import results_schema

BEGIN, END = "<!-- results-schema:begin (generated: python -m validation.evidence.contract_doc docs/contracts.md) -->", "<!-- results-schema:end -->"


def _type(prop: dict[str, Any]) -> str:
    """A short type name of one JSON Schema property (`ref` names the model, nullable marked `?`)."""
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        kinds = [_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        nullable = any(p.get("type") == "null" for p in prop["anyOf"])
        return " | ".join(dict.fromkeys(kinds)) + ("?" if nullable else "")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"[{_type(prop.get('items', {}))}]"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"{{str: {_type(prop['additionalProperties'])}}}"
    if "const" in prop or "enum" in prop:
        return " | ".join(repr(v) for v in prop.get("enum", [prop.get("const")]))
    return {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "object": "{...}"}.get(kind, kind)


def _model(name: str, schema: dict[str, Any]) -> list[str]:
    doc = " ".join(schema.get("description", "").split())
    lines = [f"- **{name}**: {doc}" if doc else f"- **{name}**"]
    props = schema.get("properties", {})
    lines += [f"  - `{field}`: {_type(prop)}" + (" (required)" if field in schema.get("required", []) else "")
              for field, prop in props.items()]
    return lines


def results_contract() -> str:
    """Every model of results.json with its fields and their types, `Results` first."""
    schema = results_schema()
    defs = schema.get("$defs", {})
    lines = _model("Results", schema)
    for name in sorted(defs):
        lines += _model(name, defs[name])
    return "\n".join(lines)


def replace_block(text: str) -> str:
    """`text` (docs/contracts.md) with its generated block rewritten."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{BEGIN}\n{results_contract()}\n{END}", text)


def documented_block(text: str) -> str | None:
    """The generated block as docs/contracts.md holds it (None without the markers)."""
    m = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    return m.group(1) if m else None


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(replace_block(path.read_text(encoding="utf-8")), encoding="utf-8")
