"""The quality benchmark's brownfield lane on asana: generate into a hand-written project and count what landed.

The fixture (bench/brownfield/asana) stages users, projects and teams (plain renames: `name as user_name`; a
stale `user_role` documented) with one mart, in `schema.yml` files with `tests:` and `version: 2`. The lane's
counts are read from the files, the warehouse and the plan (bench/quality_brownfield.py): each must be 0, and
the stale column must be among cartridge's own findings. The connector's copy in tests/fixtures/connectors is
the one a clean clone has.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import REPO_ROOT

from cartridge_bridge.demo.local_postgres import LocalPostgres

ASANA = REPO_ROOT / "tests" / "fixtures" / "connectors" / "asana"


@pytest.mark.postgres
def test_asana_generated_into_a_hand_written_project_keeps_its_ways(
    tmp_path: Path, pg_server: LocalPostgres
) -> None:
    from bench.quality import load  # the loader the quality benchmark seeds connectors with
    from bench.quality_brownfield import run_lane

    row = run_lane(ASANA, pg_server, tmp_path, load(ASANA, pg_server, tmp_path))
    assert row.error == "", row.error
    assert row.fixture_build and row.build
    assert row.stale_planted == ["stg_users.user_role"]
    assert row.stale_missed == [] and len(row.stale_reported) == 1, row.stale_reported
    assert (row.reused, row.style, row.units, row.copies) == ([], [], [], [])
    # What the zeros stand on: new models in every layer, their properties in each folder's schema.yml (the
    # new sources beside the project's own), in its dialect.
    project = tmp_path / "brownfield_asana"
    written = [p for p in row.written if p.endswith(".yml")]
    assert {"models/staging/schema.yml", "models/marts/schema.yml"} <= set(written), row.written
    assert all(p.endswith("/schema.yml") for p in written), written
    staging = yaml.safe_load((project / "models" / "staging" / "schema.yml").read_text())
    [source] = staging["sources"]  # the new tables joined the project's `asana` source
    assert {"user", "project", "team", "task", "section"} <= {t["name"] for t in source["tables"]}
    assert staging["version"] == 2
    assert any(p.startswith("models/staging/stg_") and p.endswith(".sql") for p in row.written)
    assert any(p.startswith("models/marts/") and p.endswith(".sql") for p in row.written)
