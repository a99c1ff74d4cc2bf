"""One renderer per section of the report, in the order the page shows them (reports/markdown.py
joins them). Each takes the typed `Results` (validation.evidence) and returns Markdown; a
section whose evidence is absent says so ("not measured in this run")."""

from reports.sections._common import status_text
from reports.sections.agents import agents
from reports.sections.backtests import backtests
from reports.sections.cost import cost
from reports.sections.data_quality import data_quality
from reports.sections.environment import environment
from reports.sections.header import header, key_metrics, summary_rows
from reports.sections.history import history
from reports.sections.issues import check_groups, checklist, known_issues
from reports.sections.readiness import readiness
from reports.sections.sandboxes import sandboxes
from reports.sections.stress import stress

__all__ = ["agents", "backtests", "check_groups", "checklist", "cost", "data_quality", "environment", "header", "history",
           "key_metrics", "known_issues", "readiness", "sandboxes", "status_text", "stress", "summary_rows"]
