"""pytest plugin loaded into E2B's own SDK test run by bench/e2b_conformance.py (`-p`).

It changes no test. Per worker it points the SDK at its own sandboxd (E2B_API_URL,
E2B_SANDBOX_URL, E2B_API_KEY from `TRADESWARM_CONFORMANCE_SERVERS`), and per test it writes
one JSON line to `TRADESWARM_CONFORMANCE_OUT.<worker>`: the outcome, the first line of the
failure, whether the test is applicable (with the reason when not), and how many requests
the server received while it ran (0: the test never needed a server).

Runs in the conformance venv (E2B's SDK and pytest), so it imports nothing of tradeswarm.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path

import httpx
import pytest

#: Why a test is not applicable to a local E2B-compatible server. First match wins:
#: (regex on the test file's path, regex on the test function's source, reason).
NOT_APPLICABLE = [
    (r"(^|/)template_(sync|async)/(?!test_exists\.py)|(^|/)shared/template/", None,
     "template-build API (building images is E2B's build service)"),
    (None, r"httpbin_template", "needs E2B's `httpbin` template and internet"),
    (None, r"get_host\(", "cloud-only host check: get_host() names https://<port>-<id>.<domain>, "
                          "which only E2B's edge resolves and terminates TLS for"),
    (None, r"curl[^\n]*https?://(?!127\.0\.0\.1|localhost)", "needs internet (curl to a public address)"),
    (None, r"sandbox\.e2b\.(app|dev)|\.e2b\.app\b",
     "cloud-only host check: asserts the URL the SDK derives for E2B's cloud domain, which E2B_SANDBOX_URL overrides"),
]


def _server() -> tuple[str, str]:
    servers = json.loads(os.environ["TRADESWARM_CONFORMANCE_SERVERS"])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return tuple(servers[int(worker.removeprefix("gw")) % len(servers)])


def pytest_configure(config) -> None:
    url, key = _server()
    for var in ("E2B_DEBUG", "E2B_DOMAIN", "E2B_ACCESS_TOKEN"):
        os.environ.pop(var, None)
    os.environ.update(E2B_API_URL=url, E2B_SANDBOX_URL=url, E2B_API_KEY=key)
    config._conformance = {"url": url, "key": key, "reports": {}}


def not_applicable(path: str, source: str) -> str | None:
    for path_re, source_re, reason in NOT_APPLICABLE:
        if path_re and re.search(path_re, path):
            return reason
        if source_re and re.search(source_re, source):
            return reason
    return None


def _requests(config) -> int:
    c = config._conformance
    try:
        r = httpx.get(f"{c['url']}/admin/stats", headers={"X-API-KEY": c["key"]}, timeout=10)
        return int(r.json()["requests"])
    except (httpx.HTTPError, ValueError, KeyError):
        return -1  # the server is gone: the run says so, rather than guessing


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = _requests(item.config)
    result = yield
    after = _requests(item.config)
    try:
        source = inspect.getsource(item.function)
    except (OSError, TypeError, AttributeError):
        source = ""
    outcome, message = _outcome(item.config._conformance["reports"].pop(item.nodeid, []))
    line = {"nodeid": item.nodeid, "file": item.nodeid.split("::")[0], "outcome": outcome, "message": message,
            "requests": after - before if before >= 0 and after >= 0 else -1,
            "not_applicable": not_applicable(item.nodeid.split("::")[0], source)}
    out = Path(f"{os.environ['TRADESWARM_CONFORMANCE_OUT']}.{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}")
    with out.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.config._conformance["reports"].setdefault(item.nodeid, []).append(report)
    return report


def _outcome(reports) -> tuple[str, str]:
    """passed / failed / error (setup or teardown) / skipped, and the failure's first line."""
    for rep in reports:
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            return ("xfailed" if hasattr(rep, "wasxfail") else "skipped"), reason.removeprefix("Skipped: ")
        if rep.failed:
            crash = getattr(rep.longrepr, "reprcrash", None)
            msg = crash.message if crash is not None else str(rep.longrepr)
            return ("failed" if rep.when == "call" else "error"), msg.strip().splitlines()[0][:300] if msg.strip() else ""
    return "passed", ""
