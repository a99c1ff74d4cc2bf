"""junit.xml: valid XML, one test case per check, failure/error/skipped by status."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reports import junit_xml


def _cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "testsuites"
    return {c.get("name"): c for c in root.iter("testcase")}


def _props(case: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in case.find("properties")}


def test_one_testcase_per_check_with_category_and_properties(results):
    xml = junit_xml(results)
    cases = _cases(xml)
    assert list(cases) == [c["id"] for c in results["checks"]]
    for check in results["checks"]:
        case = cases[check["id"]]
        assert case.get("classname") == check["category"]
        props = _props(case)
        assert props["threshold"] == str(check["threshold"]) and props["status"] == check["status"]
        assert props["observed"] == ("" if check["observed"] is None else str(check["observed"]))


def test_status_maps_to_failure_error_skipped(results):
    statuses = {c["id"]: c["status"] for c in results["checks"]}
    results["checks"][0]["status"] = "error"
    statuses[results["checks"][0]["id"]] = "error"
    cases = _cases(junit_xml(results))
    for cid, status in statuses.items():
        kids = {k.tag for k in cases[cid]} - {"properties", "system-out"}
        expected = {"fail": {"failure"}, "nodata": {"failure"}, "error": {"error"}, "waived": {"skipped"}}.get(status, set())
        assert kids == expected, (cid, status, kids)
    root = ET.fromstring(junit_xml(results))
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == len(statuses)
    assert int(suite.get("failures")) == sum(s in ("fail", "nodata") for s in statuses.values())
    assert int(suite.get("errors")) == 1 and int(suite.get("skipped")) == 1


def test_fixing_a_check_removes_its_failure(results):
    check = next(c for c in results["checks"] if c["status"] == "fail")
    assert _cases(junit_xml(results))[check["id"]].find("failure") is not None
    check["status"] = "pass"
    assert _cases(junit_xml(results))[check["id"]].find("failure") is None


def test_hostile_text_and_control_characters_stay_valid_xml(results):
    evil = 'a<b>&"\'\x00\x1b]]><!-- \ud800'
    results["checks"][0].update(id=evil, description=evil, evidence=evil, status="fail", observed=evil)
    xml = junit_xml(results)
    case = list(_cases(xml).values())[0]
    assert case.get("name") == 'a<b>&"\']]><!-- '
    assert "a<b>&" in case.find("failure").text


def test_no_checks_is_an_empty_valid_suite():
    root = ET.fromstring(junit_xml({"run_id": "r"}))
    assert root.get("tests") == "0" and root.find("testsuite").findall("testcase") == []
