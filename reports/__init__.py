"""Rendering of a finished certification: report.md, junit.xml, charts and the runs index.

No Prefect here: the pipeline publishes artifacts itself from what these functions return.

- `render(results, run_dir, samples=None)` / `render_run(run_dir)` write a run's files.
- `markdown_report(results)` is the analyst's report; `summary_rows(results)` its key
  metrics as rows for a table artifact or a terminal.
- `junit_xml(results)` lists the checks for CI; `update_index(runs_root)` lists the runs.
"""

from reports._format import REPORT_MODE
from reports.index import update_index
from reports.junit import junit_xml
from reports.markdown import markdown_report, summary_rows
from reports.render import RunDirError, load_run, render, render_run

__all__ = ["REPORT_MODE", "RunDirError", "junit_xml", "load_run", "markdown_report", "render", "render_run", "summary_rows", "update_index"]
