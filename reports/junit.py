"""junit.xml: one test case per check, so CI systems list the certification's checks.

`classname` is the check's category, `name` its id. A failed or unmeasured (`nodata`) check
is a `<failure>`, an errored one an `<error>`, a waived one `<skipped>`; a `warn` check (past
an alert level) and a `marginal` one (its confidence interval straddles the bound; a critical
one caps the verdict at CONDITIONAL) pass, with their status in the properties and a line in
`<system-out>`. Each test case carries `observed`,
`threshold`, `unit`, `status`, `critical` and `evidence` properties.

>>> xml = junit_xml({"run_id": "r", "checks": [{"id": "a", "category": "cost", "status": "fail"}]})
>>> "<failure" in xml
True
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from reports._format import fmt_value, one_line
from validation.evidence import Results

# XML 1.0 forbids most control characters even when escaped; agent output may contain them
_INVALID_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(v: Any) -> str:
    return _INVALID_XML.sub("", "" if v is None else str(v))


def junit_xml(results: Results | dict[str, Any]) -> str:
    """The JUnit XML document for the checks of `results` (a `<testsuites>` with one suite)."""
    results = Results.parse(results)
    checks = results.checks
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    suite = ET.Element("testsuite", name=_text(f"tradeswarm certification {results.run_id or ''}").strip())
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "profile", "provider", "verdict", "readiness_score", "git_sha", "inputs_sha256"):
        if results.has(key):
            ET.SubElement(props, "property", name=key, value=_text(getattr(results, key)))
    for c in checks:
        status = c.status
        case = ET.SubElement(suite, "testcase", classname=_text(c.category if c.has("category") else "uncategorized"),
                             name=_text(c.id), time="0")
        cprops = ET.SubElement(case, "properties")
        for key in ("observed", "threshold", "unit", "status", "critical", "evidence"):
            if c.has(key):
                ET.SubElement(cprops, "property", name=key, value=_text(getattr(c, key)))
        detail = _text(
            f"{one_line(c.description or '')}: target {one_line(c.threshold or '-')}, "
            f"actual {fmt_value(c.observed, c.unit)}; evidence: {one_line(c.evidence or '-')}"
        )
        if status in ("fail", "nodata"):
            counts["failures"] += 1
            msg = "not measured in this run" if status == "nodata" else f"actual {fmt_value(c.observed, c.unit)}"
            el = ET.SubElement(case, "failure", message=_text(msg), type=status)
            el.text = detail
        elif status == "waived":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_text(f"waived: {c.evidence or c.description or ''}"))
        elif status not in ("pass", "warn", "marginal"):  # error, or a status this renderer does not know
            counts["errors"] += 1
            el = ET.SubElement(case, "error", message=_text(f"check status {status}"), type=_text(status))
            el.text = detail
        elif status in ("warn", "marginal"):
            ET.SubElement(case, "system-out").text = _text(f"{status}: {detail}")
    suite.set("tests", str(len(checks)))
    for k, v in counts.items():
        suite.set(k, str(v))
    root = ET.Element("testsuites", name="tradeswarm", tests=str(len(checks)), failures=str(counts["failures"]), errors=str(counts["errors"]), skipped=str(counts["skipped"]))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
