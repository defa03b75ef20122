"""`mf query` in a generated project, as the benches ask MetricFlow: rows of its CSV, names lower-cased."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

MF = Path(sys.executable).parent / "mf"  # dbt-metricflow's command, beside this interpreter


def mf_query(
    project: Path, metrics: list[str], group_by: list[str], where: list[str] | None = None
) -> list[dict[str, str]]:
    """The query's rows (values as text, column names lower-cased: MetricFlow may upper-case them); a
    RuntimeError with MetricFlow's own message when it fails."""
    out = project / "target" / "bench_mf_query.csv"
    out.unlink(missing_ok=True)
    command = [str(MF), "query", "--metrics", ",".join(metrics), "--csv", str(out)]
    command += ["--group-by", ",".join(group_by)] if group_by else []
    for condition in where or []:
        command += ["--where", condition]
    ran = subprocess.run(
        command,
        cwd=project,
        env=os.environ | {"DBT_PROFILES_DIR": str(project)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if ran.returncode != 0 or not out.is_file():
        said = [line.strip() for line in (ran.stdout + ran.stderr).splitlines() if line.strip()]
        # MetricFlow prints `ERROR: <kind>`, its message on the next lines, then where to report bugs.
        at = next((i for i, line in enumerate(said) if line.startswith("ERROR")), None)
        why = (
            " ".join(said[at : at + 2])
            if at is not None
            else (said[-1] if said else f"exit {ran.returncode}")
        )
        raise RuntimeError(why[:300])
    with out.open(newline="", encoding="utf-8") as file:
        return [{k.lower(): v for k, v in row.items()} for row in csv.DictReader(file)]
