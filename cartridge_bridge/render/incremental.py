"""What an incremental fact's SQL needs: the config arguments per adapter, and the pieces of its new-rows filter.

The template writes `{% if is_incremental() %} where <column> >= (select max(<column>) from {{ this }}) {% endif %}`
on the base model's rows; the pieces below are checked names and an integer, never plan text.

Strategy per adapter:
- PostgreSQL, DuckDB (and any adapter whose default strategy replaces rows by `unique_key`: delete+insert or
  merge): the filter is `>=` the newest value, minus `lookback_days`. A loader writes a sync's rows with one
  timestamp, and a run may have read only part of the last one; rows arriving late inside the window are read
  too. Either way `unique_key` replaces what is read again, so nothing doubles.
- Spark: `merge` needs Delta or Iceberg tables, which a plain Spark (the lane's, with Hive parquet tables) does
  not have; `insert_overwrite` without partitions replaces the whole table with only the new rows. `append`
  works on every file format, but cannot replace a row: the filter is a strict `>` and a lookback is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.errors import PlanError
from cartridge_bridge.planning.incremental_checks import APPEND_ONLY_ADAPTERS, base_column
from cartridge_bridge.planning.plan import IncrementalConfig, MartSpec
from cartridge_bridge.render.guards import checked_name


def incremental_arguments(incremental: IncrementalConfig, adapter_type: str) -> list[str]:
    """The `config()` arguments of an incremental fact beyond `materialized` and `unique_key`."""
    arguments = []
    if adapter_type in APPEND_ONLY_ADAPTERS:
        arguments.append("incremental_strategy='append'")
    arguments.append(f"on_schema_change='{incremental.on_schema_change}'")  # a Literal of dbt's values
    return arguments


@dataclass(frozen=True)
class NewRowsFilter:
    """`<column> <operator> (select <newest> from {{ this }})`, as the template writes it on the base model."""

    column: str  # the base model's column
    operator: str
    newest: str  # over the model's own column, in `{{ this }}`


def new_rows_filter(spec: MartSpec, incremental: IncrementalConfig, adapter_type: str) -> NewRowsFilter:
    """The filter's pieces: names passed the grammar again, the lookback an integer of days."""
    base = base_column(spec, incremental.column, adapter_type)
    if base is None:
        raise PlanError(
            f"refusing to render: {incremental.column!r} is not selected as it is from the base model"
        )
    column = checked_name(base, adapter_type)
    newest = f"max({checked_name(incremental.column, adapter_type)})"
    days = int(incremental.lookback_days)
    if days:
        newest = f"{newest} - interval '{days}' day"  # the SQL standard's form: PostgreSQL, DuckDB, Spark
    operator = ">" if adapter_type in APPEND_ONLY_ADAPTERS else ">="
    return NewRowsFilter(column=column, operator=operator, newest=newest)
