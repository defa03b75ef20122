"""Check an incremental fact's config: the growing column is a column the mart passes through from its base model.

The renderer filters the base model's rows on that column against the newest value already in the table, so
the column must be readable there (`<base_alias>.<column>`) and an output of the model (where `{{ this }}` has
it). Rows read again at the boundary, or inside the lookback, are replaced through `unique_key`; Spark's
append strategy cannot replace a row, so there the filter is strict and the lookback refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from cartridge_bridge.planning.plan import IncrementalConfig, MartSpec
from cartridge_bridge.sql.sql_fragments import parse_expression
from cartridge_bridge.sql.sql_types import is_temporal

if TYPE_CHECKING:  # spec_checks calls in here for a model's config
    from cartridge_bridge.planning.spec_checks import SpecChecker

# Adapters whose incremental strategy appends only (no delta or iceberg tables assumed): see render.incremental.
APPEND_ONLY_ADAPTERS = frozenset({"spark"})


def base_column(spec: MartSpec, column: str, adapter_type: str) -> str | None:
    """The base model's column an output column selects as it is (`orders.synced_at`), or None."""
    selected = next((c for c in spec.columns if c.name == column), None)  # the base's own, never a join's
    if selected is None or selected.expression is None:
        return None
    tree, problem = parse_expression(selected.expression, adapter_type)
    if problem or not isinstance(tree, exp.Column) or tree.table not in ("", spec.base_alias):
        return None
    return tree.name


def check_incremental(checker: SpecChecker, outputs: set[str]) -> None:
    """Record every problem of the action's `config.incremental` on `checker`."""
    config = checker.action.config
    incremental = config.incremental
    if incremental is None:
        return
    at = "config.incremental"
    if config.materialized != "incremental":
        checker.add(at, "only an incremental model has an incremental filter", "materialized: incremental")
    spec = checker.action.spec
    if not isinstance(spec, MartSpec):
        checker.add(
            at, f"a {spec.kind} model cannot be incremental here", "a mart (a fact over its base model)"
        )
        return
    _check_column(checker, spec, incremental, outputs)
    _check_windows(checker, spec)
    append_only = checker.adapter in APPEND_ONLY_ADAPTERS
    if not config.unique_key and not append_only:
        checker.add(
            "config.unique_key",
            "an incremental fact needs a unique_key: the rows read again at the newest value are replaced by it",
            "the fact's grain",
        )
    if incremental.lookback_days and append_only:
        checker.add(
            f"{at}.lookback_days",
            f"{checker.adapter}'s append strategy would add the rows of the lookback a second time",
            "0",
        )


def _check_column(
    checker: SpecChecker, spec: MartSpec, incremental: IncrementalConfig, outputs: set[str]
) -> None:
    where = "config.incremental.column"
    checker.columns_in(where, [incremental.column], outputs)
    if incremental.column not in outputs:
        return
    base = base_column(spec, incremental.column, checker.adapter)
    if base is None:
        checker.add(
            where,
            f"{incremental.column!r} is not a column the mart selects as it is from {spec.base_alias!r}",
            f"an output column whose expression is `{spec.base_alias}.<column>`",
        )
        return
    checker.name(where, base)  # written bare into the filter
    if incremental.lookback_days:
        data_type = next(c.data_type for c in spec.columns if c.name == incremental.column)
        if not data_type or not is_temporal(data_type):
            checker.add(
                where,
                f"a lookback of {incremental.lookback_days} days needs a date or timestamp column, and "
                f"{incremental.column!r} is {data_type or 'of no stated data_type'}",
                "lookback_days: 0, or a column with a date or timestamp data_type",
            )


def _check_windows(checker: SpecChecker, spec: MartSpec) -> None:
    """A window reads other rows of its partition, and an incremental run holds only the new ones: a running
    total would restart at every run."""
    for column in [*spec.columns, *(c for j in spec.joins for c in j.columns)]:
        tree = (
            parse_expression(column.expression, checker.adapter, windows=True)[0]
            if column.expression
            else None
        )
        if tree is not None and tree.find(exp.Window) is not None:
            checker.add(
                f"spec.columns[{column.name}].expression",
                "an incremental fact cannot compute a window: each run reads only the new rows",
                "no window column, or a fact rebuilt whole (no incremental)",
            )
