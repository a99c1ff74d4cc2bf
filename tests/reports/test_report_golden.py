"""The crafted golden run renders byte for byte as the reviewed report.md.

After an intended change to the report: `UPDATE_GOLDEN=1 python -m pytest tests/reports/test_report_golden.py`,
then review `git diff tests/reports/golden/report.md` (see reports/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from reports import render_run

GOLDEN = Path(__file__).parent / "golden"


def test_golden_report_matches_byte_for_byte(run_dir):
    render_run(run_dir)
    rendered = (run_dir / "report.md").read_bytes()
    golden = GOLDEN / "report.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_bytes(rendered)
    assert golden.is_file(), "no golden report: run with UPDATE_GOLDEN=1 and review it"
    assert rendered == golden.read_bytes(), "report.md differs from the reviewed golden file (see this module's docstring)"


def test_golden_report_is_not_independent_of_its_input(run_dir):
    """The byte comparison would notice a changed measurement (the golden test can fail)."""
    results = (run_dir / "results.json").read_text(encoding="utf-8")
    (run_dir / "results.json").write_text(results.replace('"completed": 983', '"completed": 982'), encoding="utf-8")
    render_run(run_dir)
    assert (run_dir / "report.md").read_bytes() != (GOLDEN / "report.md").read_bytes()
