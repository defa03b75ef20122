"""The periodic snapshot the data leaves no doubt about: a daily one of each money-moving fact.

A fact is money-moving when the measure rules judge some of its amounts money worth summing (not a quantity,
not a unit price, not a level) and its sum condition says how (as they are, signed, or over successful states
only). With an event time, it gets one row per day (and per currency when it has a currency column) from its
first to its last event, counting its rows and summing those amounts; a day without any holds 0.
"""

from __future__ import annotations

from cartridge_bridge.planning.plan import (
    ColumnSpec,
    ModelTest,
    PeriodicSnapshotSpec,
    SnapshotEntity,
    SnapshotMeasure,
    SpineBounds,
)
from cartridge_bridge.planning.planner import SnapshotDraft
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.state import Staged
from cartridge_bridge.planning.rules.sum_conditions import sum_condition
from cartridge_bridge.sql.naming import dedupe, plural
from cartridge_bridge.sql.sql_types import is_numeric, is_temporal

DAY_COLUMN = "date_day"  # the day's column, named as dbt's own date spines name it
# Words that make an amount money. `total` alone says only that something adds up (`total_weight`), and a
# quantity counts units: neither moves money.
_MONEY_WORDS = frozenset(
    "amount amt cost costs tax taxes discount discounts fee fees revenue spend spent price prices paid refund "
    "refunded refunds charge charges duty duties tip tips gross net sales income".split()
)


def is_money(column: ColumnSpec) -> bool:
    """An amount the measure rules sum that is money by its name (`total_price`, `fee_amount`, not `total_weight`)."""
    return bool(_MONEY_WORDS & set(measures.words(column.name)))


def daily_snapshot(table: Staged, fact: str, name: str) -> SnapshotDraft | None:
    """The daily snapshot of the fact `fact` over `table`, named `name`, or None when it moves no money."""
    columns = [c for c in table.spec.columns if not measures.is_loader_column(c)]
    time = measures.event_time(table.relation, columns)
    if time is None or not is_temporal(measures.column_type(time)):
        return None
    condition = sum_condition(table.relation, columns)
    keys = {*table.spec.grain, *(c.name for c in columns if c.name.endswith("_id"))}
    # A currency is a code: `amount_home_currency` is an amount named after one, never a key to group by.
    textual = [c for c in columns if not is_numeric(measures.column_type(c))]
    currencies = [c for c in textual if measures.currency_of(table.relation, [c]).column]
    if len(currencies) > 1:
        return None  # `home_currency` beside `transaction_currency`: which one an amount is in, no name says
    currency = measures.currency_of(table.relation, currencies)
    # Grouped by currency, money in several currencies still adds up within each; without a currency column
    # to group by, the measure rules' own judgement stands.
    money = [
        c
        for c in measures.amounts(table.relation, columns, keys, any_currency=currency.column is not None)
        if is_money(c) and not measures.is_quantity(c)
    ]
    if not money or condition.template is None:
        return None
    rows = plural(table.table)
    only = (
        ""
        if condition.template == "{0}"
        else " (only the rows that count as money, as the table's states say)"
    )
    totals = dedupe([c.name if c.name.startswith("total_") else f"total_{c.name}" for c in money])
    sums = [
        SnapshotMeasure(
            name=total,
            expression=str(condition.expression(column.name)),
            description=f"Sum of `{column.name}` over the day's {docs.words(rows)}{only}; 0 on a day without any.",
        )
        for total, column in zip(totals, money, strict=True)
    ]
    count = SnapshotMeasure(
        name=f"number_of_{rows}",
        expression="count(*)",
        description=f"How many {docs.words(rows)} the day has by `{time.name}`; 0 on a day without any.",
    )
    per = f" and {docs.words(currency.column)}" if currency.column else ""
    spec = PeriodicSnapshotSpec(
        period="day",
        period_column=DAY_COLUMN,
        bounds=SpineBounds(model=fact, column=time.name),
        event_model=fact,
        event_time=time.name,
        entity=SnapshotEntity(model=fact, columns=[currency.column]) if currency.column else None,
        measures=[count, *sums],
    )
    description = (
        f"Daily snapshot: one row per day{per} from the first to the last {docs.words(table.entity)}'s "
        f"`{time.name}` (the last day of the data ends it), with the day's {docs.words(rows)} counted and "
        f"their amounts summed; a day without any is there with 0."
    )
    tests = [ModelTest(name="unique_combination_of_columns", columns=spec.grain)] if spec.entity else []
    return SnapshotDraft(name=name, description=description, spec=spec, tests=tests)
