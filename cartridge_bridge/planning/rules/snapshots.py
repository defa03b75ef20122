"""The periodic snapshots the data leaves no doubt about: a daily one of each money-moving fact, and a monthly
one per the parent it belongs to, with running totals (what each account had been invoiced by each month-end).

A fact is money-moving when the measure rules judge some of its amounts money worth summing (not a quantity,
not a unit price, not a level) and its sum condition says how (as they are, signed, or over successful states
only). With an event time, it gets one row per day (and per currency, by each currency column it has) from
its first to its last event, counting its rows and summing those amounts; a day without any holds 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.context.naming import dedupe, plural
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
from cartridge_bridge.planning.rules.sum_conditions import SumCondition, sum_condition
from cartridge_bridge.planning.sql_types import is_numeric, is_temporal

DAY_COLUMN = "date_day"  # the day's column, named as dbt's own date spines name it
MONTH_COLUMN = "date_month"  # the month's first day, as dbt's own spines name a month
MONTH_END_COLUMN = "month_end"  # the month's last day: where a balance "at each month-end" is keyed
RUNNING_SUFFIX = "_to_date"
# What a column dating the row's own entity ends with: `invoice_date`, `order_at`, `payment_time`.
_TIME_SUFFIXES = ("date", "at", "on", "time", "timestamp", "datetime")
# Words that make an amount money. `total` alone says only that something adds up (`total_weight`), and a
# quantity counts units: neither moves money.
_MONEY_WORDS = frozenset(
    "amount amt cost costs tax taxes discount discounts fee fees revenue spend spent price prices paid refund "
    "refunded refunds charge charges duty duties tip tips gross net sales income".split()
)


def is_money(column: ColumnSpec) -> bool:
    """An amount the measure rules sum that is money by its name (`total_price`, `fee_amount`, not `total_weight`)."""
    return bool(_MONEY_WORDS & set(measures.words(column.name)))


@dataclass(frozen=True)
class MoneyMoving:
    """What makes a fact money-moving: the time dating it, the currency columns its money is grouped by, how
    its amounts are summed, the money amounts, and the names of the snapshots' count and totals."""

    time: ColumnSpec
    currencies: list[str]
    condition: SumCondition
    money: list[ColumnSpec]
    rows: str  # the fact's rows, in plural: `invoices`
    totals: list[str]  # `total_<amount>`, one per money amount


def business_time(table: Staged, columns: list[ColumnSpec]) -> ColumnSpec | None:
    """The time dating the row's own entity (`invoice_date` on an invoice) before the event time the measure
    rules take (`created_at`): a loader's or a back-fill's creation time may lag the business date by months."""
    own = {f"{table.entity}_{suffix}" for suffix in _TIME_SUFFIXES}
    dated = [c for c in columns if c.name in own and is_temporal(measures.column_type(c))]
    return next(
        (c for c in dated if not measures.is_empty(table.relation, c)),
        measures.event_time(table.relation, columns),
    )


def money_moving(table: Staged) -> MoneyMoving | None:
    """The money-moving facts of the table (see the module's docstring), or None when it moves no money."""
    columns = [c for c in table.spec.columns if not measures.is_loader_column(c)]
    time = business_time(table, columns)
    if time is None or not is_temporal(measures.column_type(time)):
        return None
    condition = sum_condition(table.relation, columns)
    keys = {*table.spec.grain, *(c.name for c in columns if c.name.endswith("_id"))}
    # A currency is a code: `amount_home_currency` is an amount named after one, never a key to group by.
    textual = [c for c in columns if not is_numeric(measures.column_type(c))]
    currencies = [c.name for c in textual if measures.currency_of(table.relation, [c]).column]
    # Grouped by every currency column (`home_currency` beside `transaction_currency`), each amount is in one
    # currency within a group whichever column names it; without a currency column to group by, the measure
    # rules' own judgement stands.
    money = [
        c
        for c in measures.amounts(table.relation, columns, keys, any_currency=bool(currencies))
        if is_money(c) and not measures.is_quantity(c)
    ]
    if not money or condition.template is None:
        return None
    totals = dedupe([c.name if c.name.startswith("total_") else f"total_{c.name}" for c in money])
    return MoneyMoving(time, currencies, condition, money, plural(table.table), totals)


def _sums(moving: MoneyMoving, period: str) -> list[SnapshotMeasure]:
    only = (
        ""
        if moving.condition.template == "{0}"
        else " (only the rows that count as money, as the table's states say)"
    )
    return [
        SnapshotMeasure(
            name=total,
            expression=str(moving.condition.expression(column.name)),
            description=f"Sum of `{column.name}` over the {period}'s {docs.words(moving.rows)}{only}; "
            f"0 in a {period} without any.",
        )
        for total, column in zip(moving.totals, moving.money, strict=True)
    ]


def _count(moving: MoneyMoving, period: str) -> SnapshotMeasure:
    return SnapshotMeasure(
        name=f"number_of_{moving.rows}",
        expression="count(*)",
        description=f"How many {docs.words(moving.rows)} the {period} has by `{moving.time.name}`; "
        f"0 in a {period} without any.",
    )


def daily_snapshot(table: Staged, fact: str, name: str) -> SnapshotDraft | None:
    """The daily snapshot of the fact `fact` over `table`, named `name`, or None when it moves no money."""
    moving = money_moving(table)
    if moving is None:
        return None
    time = moving.time.name
    spec = PeriodicSnapshotSpec(
        period="day",
        period_column=DAY_COLUMN,
        bounds=SpineBounds(model=fact, column=time),
        event_model=fact,
        event_time=time,
        entity=SnapshotEntity(model=fact, columns=moving.currencies) if moving.currencies else None,
        measures=[_count(moving, "day"), *_sums(moving, "day")],
    )
    description = (
        f"Daily snapshot: one row per {docs.listing(['day', *moving.currencies])} from the first to the last "
        f"{docs.words(table.entity)}'s `{time}` (the last day of the data ends it), with the day's "
        f"{docs.words(moving.rows)} counted and their amounts summed; a day without any is there with 0."
    )
    tests = [ModelTest(name="unique_combination_of_columns", columns=spec.grain)] if spec.entity else []
    return SnapshotDraft(name=name, description=description, spec=spec, tests=tests)


def running_snapshot(table: Staged, fact: str, name: str, key: str, parent: str) -> SnapshotDraft | None:
    """The monthly snapshot of the fact `fact` per its parent's key `key` (the parent entity `parent`), with
    each month's count and totals and their running totals to date, or None when the fact moves no money.

    Every key the fact holds gets a row per month, also one its parent's table lacks: the balance is the
    fact's, whatever the parent table says."""
    moving = money_moving(table)
    if moving is None:
        return None
    time = moving.time.name
    monthly = [_count(moving, "month"), *_sums(moving, "month")]
    running = [
        measure.model_copy(
            update={
                "name": f"{measure.name}{RUNNING_SUFFIX}",
                "running": True,
                "description": f"Running total of `{measure.name}` over the {docs.words(parent)}'s months, "
                "up to and including this one: what it stood at on the month's last day.",
            }
        )
        for measure in monthly
    ]
    spec = PeriodicSnapshotSpec(
        period="month",
        period_column=MONTH_COLUMN,
        period_end_column=MONTH_END_COLUMN,
        bounds=SpineBounds(model=fact, column=time),
        event_model=fact,
        event_time=time,
        entity=SnapshotEntity(model=fact, columns=[key, *moving.currencies]),
        measures=[*monthly, *running],
    )
    description = (
        f"Monthly snapshot per {docs.words(parent)}: one row per {docs.listing(['month', key, *moving.currencies])} "
        f"from the first "
        f"to the last {docs.words(table.entity)}'s `{time}`, with the month's {docs.words(moving.rows)} "
        f"counted and their amounts summed, and their running totals (`*{RUNNING_SUFFIX}`: where the "
        f"{docs.words(parent)} stood at the month's last day, `{MONTH_END_COLUMN}`); a month without any is "
        "there with 0."
    )
    tests = [ModelTest(name="unique_combination_of_columns", columns=spec.grain)]
    return SnapshotDraft(name=name, description=description, spec=spec, tests=tests)
