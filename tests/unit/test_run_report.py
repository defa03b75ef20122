"""A run's report file: every item of the long lists, one a line, escaped, in the run's own folder."""

from __future__ import annotations

from pathlib import Path

from cartridge_bridge.write.journal import RUNS_DIR
from cartridge_bridge.write.run_report import report_text, save_run_report

RUN = "20260101T000000000000Z"


def test_the_report_lists_every_item_on_its_own_line_with_no_control_character() -> None:
    columns = [f"stg_shop__orders.column_{i}" for i in range(945)]
    text = report_text(
        RUN, {"tests relaxed": ["a test\nwith dbt's\x1b[2J lines"], "columns undescribed": columns}
    )
    lines = text.splitlines()
    assert lines[0] == f"cartridge run {RUN}"
    assert "1 tests relaxed:" in lines and "945 columns undescribed:" in lines
    assert "  a test; with dbt's\\x1b[2J lines" in lines
    assert [line.strip() for line in lines if line.startswith("  stg_")] == columns
    assert max(len(line) for line in lines) < 80


def test_the_report_is_saved_in_the_run_folder_and_never_through_a_link(tmp_path: Path) -> None:
    path = save_run_report(tmp_path, RUN, {"columns undescribed": ["stg_a.b"]})
    assert path == tmp_path / RUNS_DIR / RUN / "report.txt"
    assert path.read_text().splitlines()[-1] == "  stg_a.b"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = "20260101T000000000001Z"
    (tmp_path / RUNS_DIR / other).symlink_to(elsewhere)
    assert save_run_report(tmp_path, other, {"columns undescribed": ["stg_a.b"]}) is None  # the run stands
    assert list(elsewhere.iterdir()) == []
