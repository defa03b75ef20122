"""Checks of a type-2 history spec and of the test that its versions do not overlap.

A history reads one model: its key, start, end and tie-breaking columns must be columns of that model, every
carried column one safe expression over it, and the entity key carried under its own name so the grain
(entity key + `valid_from`) is a set of output columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cartridge_bridge.planning.plan import HISTORY_COLUMNS, HISTORY_WORK_COLUMNS, HistorySpec, ModelTest

if TYPE_CHECKING:
    from cartridge_bridge.planning.spec_checks import SpecChecker


def check_history(checker: SpecChecker, spec: HistorySpec) -> None:
    """Every column the history reads is one of its model's; the key is carried; no work column is taken."""
    source = checker.model_columns("spec.from_model", spec.from_model)
    if not spec.entity_key:
        checker.add("spec.entity_key", "a history needs the entity key: the column(s) naming what changes")
    checker.columns_in("spec.entity_key", spec.entity_key, source)
    checker.columns_in("spec.valid_from", [spec.valid_from], source)
    if spec.valid_to is not None:
        checker.columns_in("spec.valid_to", [spec.valid_to], source)
        if spec.valid_to == spec.valid_from:
            checker.add("spec.valid_to", "a version cannot end at the column it starts at")
    if not spec.tie_breaker:
        checker.add(
            "spec.tie_breaker",
            "versions of one entity starting at the same time need an order to keep one by",
            "a loader's sync time, descending, or any column telling tied versions apart",
        )
    checker.columns_in("spec.tie_breaker", [o.column for o in spec.tie_breaker], source)
    carried = {c.name: c for c in spec.columns}
    for column in spec.columns:
        checker.expression_column(f"spec.columns[{column.name}].expression", column, {None: source})
        if column.name in HISTORY_COLUMNS or column.name in HISTORY_WORK_COLUMNS:
            checker.add(
                f"spec.columns[{column.name}].name", f"{column.name!r} is a column the history adds itself"
            )
    for key in spec.entity_key:
        if key not in carried or carried[key].expression != key:
            checker.add(
                "spec.entity_key",
                f"{key!r} is not carried under its own name, so the grain has no such column",
                f'a column {{"name": "{key}", "expression": "{key}"}}',
            )


def check_overlap_test(checker: SpecChecker, at: str, test: ModelTest, outputs: set[str]) -> None:
    """The overlap test names the entity key and both ends of a version's validity, all columns of the model."""
    if not test.columns:
        checker.add(f"{at}.columns", "versions_do_not_overlap needs the entity key columns")
    checker.columns_in(f"{at}.columns", test.columns, outputs)
    if test.valid_from is None or test.valid_to is None:
        checker.add(at, "versions_do_not_overlap needs `valid_from` and `valid_to`")
    checker.columns_in(
        f"{at}.valid_from", [c for c in (test.valid_from, test.valid_to) if c is not None], outputs
    )
    if test.expression is not None:
        checker.add(f"{at}.expression", "versions_do_not_overlap takes no expression")
