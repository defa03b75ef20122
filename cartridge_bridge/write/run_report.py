"""A run's report file: the long lists of an apply (undescribed columns, relaxed tests) whole, one item a line.

The terminal shows each list's count and first few; this file, in the run's folder next to its journal, keeps
every item for a log or a reviewer.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from cartridge_bridge.errors import UsageError, one_line, shown
from cartridge_bridge.write.journal import run_dir, write_durably

REPORT_NAME = "report.txt"


def report_text(run_id: str, sections: dict[str, list[str]]) -> str:
    """The report: a title line, then per section a `<count> <title>:` line and one item per line."""
    lines = [f"cartridge run {run_id}"]
    for title, items in sections.items():
        lines.append("")
        lines.append(f"{len(items)} {title}:")
        # Items come from the warehouse, a plan or dbt: one line each (dbt's lines joined by `; `), no control.
        lines += [f"  {shown(one_line(item), limit=None)}" for item in items]
    return "\n".join(lines) + "\n"


def save_run_report(project_dir: Path, run_id: str, sections: dict[str, list[str]]) -> Path | None:
    """Write the report into the run's folder and return its path; None when it cannot be written."""
    return save_in_run(project_dir, run_id, REPORT_NAME, report_text(run_id, sections))


def save_in_run(project_dir: Path, run_id: str, name: str, text: str) -> Path | None:
    """Write one of a run's pages (its report, its review) into the run's folder; None when it cannot be written.

    The run itself is done by then: a full disk or a planted link costs the page, never the run.
    """
    path = run_dir(project_dir, run_id) / name
    with contextlib.suppress(OSError, UsageError):
        write_durably(project_dir, path, text.encode("utf-8"))
        return path
    return None
