"""Documentation checks on real files: headings, non-empty sections, mentions, freshness."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone

from validation.docs_check import documentation_checks, last_change, sections
from validation.spec import DocumentationSpec

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)
DAY = 86400


def _spec(**doc) -> DocumentationSpec:
    return DocumentationSpec.model_validate({"grace_days": 14, "required": [{"path": "RUNBOOK.md", **doc}]})


def _write(root, text, *, age_days=0.0, name="RUNBOOK.md"):
    p = root / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    t = NOW.timestamp() - age_days * DAY
    os.utime(p, (t, t))
    return p


def _problems(root, spec) -> list[str]:
    (c,) = documentation_checks(spec, root, NOW)
    assert c.status == ("pass" if not c.details["problems"] else "fail")
    return c.details["problems"]


GOOD = "# Runbook\n\n## Running a certification\n\nRun `tradeswarm certify`.\n\n## Known issues in 1.2.3\n\n### Slow\n\nx\n"


def test_sections_ignore_fenced_headings_and_nest():
    secs = sections("# A\ntext\n```\n# not a heading\n```\n## B\n\n# C\n")
    assert [(lvl, t) for lvl, t, _ in secs] == [(1, "A"), (2, "B"), (1, "C")]
    assert "## B" in secs[0][2] and secs[1][2].strip() == ""


def test_missing_empty_and_complete_documents(tmp_path):
    spec = _spec(headings=["Running a certification", "Known issues"], mentions=["tradeswarm certify", "{version}"])
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.2.3"\n')
    assert _problems(tmp_path, spec) == ["RUNBOOK.md does not exist"]
    _write(tmp_path, "  \n")
    assert _problems(tmp_path, spec) == ["RUNBOOK.md is empty"]
    _write(tmp_path, GOOD)
    assert _problems(tmp_path, spec) == []
    _write(tmp_path, GOOD.replace("Run `tradeswarm certify`.", ""))
    assert _problems(tmp_path, spec) == ["section 'Running a certification' is empty", "does not mention 'tradeswarm certify'"]
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.3.0"\n')  # the doc now describes an old version
    _write(tmp_path, GOOD)
    assert _problems(tmp_path, spec) == ["does not mention '1.3.0'"]
    _write(tmp_path, GOOD.replace("## Known issues in 1.2.3", "## Other"))
    assert "heading 'Known issues' missing" in _problems(tmp_path, spec)


def test_max_age_days(tmp_path):
    spec = _spec(max_age_days=30)
    _write(tmp_path, GOOD, age_days=10)
    assert _problems(tmp_path, spec) == []
    _write(tmp_path, GOOD, age_days=45)
    assert _problems(tmp_path, spec) == ["stale: last changed 45 days ago, limit 30"]


def test_doc_older_than_the_code_it_covers_is_stale(tmp_path):
    spec = _spec(covers=["flows"])
    _write(tmp_path, GOOD, age_days=20)
    _write(tmp_path, "x = 1\n", age_days=1, name="flows/certify.py")
    assert _problems(tmp_path, spec) == ["stale: 19.0 days older than the code it covers (flows), grace 14 days"]
    _write(tmp_path, GOOD, age_days=10)
    assert _problems(tmp_path, spec) == []


def _git(root, *args, when=None):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    if when:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{int(when)} +0000"
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def test_in_git_the_commit_time_counts_not_the_checkout_mtime(tmp_path):
    _git(tmp_path, "init", "-q")
    _write(tmp_path, GOOD)  # fresh mtime, as after a clone
    _git(tmp_path, "add", "RUNBOOK.md")
    _git(tmp_path, "commit", "-qm", "doc", when=NOW.timestamp() - 60 * DAY)
    assert abs(last_change(tmp_path, "RUNBOOK.md") - (NOW.timestamp() - 60 * DAY)) < 1
    assert _problems(tmp_path, _spec(max_age_days=30)) == ["stale: last changed 60 days ago, limit 30"]
    _write(tmp_path, GOOD + "\nedited\n", age_days=1)  # uncommitted edit: its mtime counts
    assert _problems(tmp_path, _spec(max_age_days=30)) == []
