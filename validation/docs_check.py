"""Documentation checks: the operator documents the spec requires, checked on the files.

The rule, per required document (`documentation.required[]` in the spec):

1. the file exists and has text;
2. every listed heading is present (a Markdown `#` heading whose text contains it,
   case-insensitive) and its section is not empty (text before the next heading of the same
   or a higher level; a sub-section counts as content);
3. every listed mention appears verbatim, with `{version}` replaced by the project version
   from `pyproject.toml` (so a "known issues" page must name the version it describes);
4. freshness: when the document `covers` code paths, its last change must not be older than
   the newest change to that code by more than `grace_days`; otherwise, when `max_age_days`
   is set, its last change must be within that many days of `now`.

"Last change" is the time of the last git commit touching the path, or the file's
modification time when the path has uncommitted changes or is not in a git work tree.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from datetime import datetime, timezone
from pathlib import Path

from validation.checks import Check
from validation.spec import DocumentationSpec, RequiredDoc

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def project_version(repo_root: Path) -> str | None:
    """`[project].version` of the repository's pyproject.toml."""
    try:
        return tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None


def sections(text: str) -> list[tuple[int, str, str]]:
    """`(level, heading, body)` for each Markdown heading (headings inside code fences ignored)."""
    lines = text.splitlines()
    heads: list[tuple[int, int, str]] = []
    fenced = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.match(line)
        if m:
            heads.append((i, len(m.group(1)), m.group(2)))
    out = []
    for n, (i, level, title) in enumerate(heads):
        end = next((j for j, lvl, _ in heads[n + 1:] if lvl <= level), len(lines))
        out.append((level, title, "\n".join(lines[i + 1:end])))
    return out


def _git(repo_root: Path, *args: str) -> str | None:
    try:
        res = subprocess.run(["git", "-C", str(repo_root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def _mtimes(path: Path) -> list[float]:
    if path.is_file():
        return [path.stat().st_mtime]
    return [p.stat().st_mtime for p in path.rglob("*") if p.is_file()] if path.is_dir() else []


def last_change(repo_root: Path, rel: str) -> float | None:
    """Epoch seconds of the last change to `rel` (file or folder); None when it does not exist."""
    path = repo_root / rel
    if _git(repo_root, "rev-parse", "--is-inside-work-tree") is None:
        times = _mtimes(path)
        return max(times) if times else None
    committed = (_git(repo_root, "log", "-1", "--format=%ct", "--", rel) or "").strip()
    times = [float(committed)] if committed else []
    dirty = _git(repo_root, "status", "--porcelain", "--untracked-files=all", "--", rel) or ""
    for line in dirty.splitlines():
        p = repo_root / line[3:].strip().strip('"')
        if p.is_file():
            times.append(p.stat().st_mtime)
    return max(times) if times else None


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts is not None else None


def doc_problems(doc: RequiredDoc, spec: DocumentationSpec, repo_root: Path, now: datetime,
                 version: str | None) -> tuple[list[str], dict]:
    """Every way the document breaks the rule (empty = fine), and what was measured."""
    path = repo_root / doc.path
    if not path.is_file():
        return [f"{doc.path} does not exist"], {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [f"{doc.path} cannot be read: {e}"], {}
    if not text.strip():
        return [f"{doc.path} is empty"], {}
    problems = []
    secs = sections(text)
    for want in doc.headings:
        found = [body for _, title, body in secs if want.lower() in title.lower()]
        if not found:
            problems.append(f"heading {want!r} missing")
        elif not any(body.strip() for body in found):
            problems.append(f"section {want!r} is empty")
    for mention in doc.mentions:
        if "{version}" in mention and version is None:
            problems.append("project version unknown (pyproject.toml) so {version} cannot be checked")
            continue
        needle = mention.replace("{version}", version or "")
        if needle not in text:
            problems.append(f"does not mention {needle!r}")
    doc_time = last_change(repo_root, doc.path)
    measured = {"last_change": _iso(doc_time)}
    if doc.covers:
        code_times = [t for t in (last_change(repo_root, c) for c in doc.covers) if t is not None]
        if code_times and doc_time is not None:
            lag_days = (max(code_times) - doc_time) / 86400.0
            measured.update({"code_last_change": _iso(max(code_times)), "behind_code_days": round(lag_days, 2)})
            if lag_days > spec.grace_days:
                problems.append(f"stale: {lag_days:.1f} days older than the code it covers ({', '.join(doc.covers)}), grace {spec.grace_days} days")
    elif doc.max_age_days is not None and doc_time is not None:
        age_days = (now.timestamp() - doc_time) / 86400.0
        measured["age_days"] = round(age_days, 2)
        if age_days > doc.max_age_days:
            problems.append(f"stale: last changed {age_days:.0f} days ago, limit {doc.max_age_days}")
    return problems, measured


def documentation_checks(spec: DocumentationSpec, repo_root: Path, now: datetime) -> list[Check]:
    """One check per required document."""
    version = project_version(repo_root)
    out = []
    for doc in spec.required:
        problems, measured = doc_problems(doc, spec, repo_root, now, version)
        what = [f"headings {doc.headings}" if doc.headings else "", f"mentions {doc.mentions}" if doc.mentions else ""]
        out.append(Check(
            f"doc.{doc.path}", "documentation",
            f"{doc.path} exists, is not empty, is current" + "".join(f"; {w}" for w in what if w),
            "problems == 0", len(problems), "problems", "pass" if not problems else "fail", False,
            f"file:{doc.path}", {"problems": problems, **measured}))
    return out
