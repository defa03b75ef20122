"""Which staged columns make a mart's measures: amounts worth summing, the timestamp worth a first and a last.

Judged on names, types and, when the relation was profiled, the data: a column empty in the data is never a
measure, and money is never summed across currencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cartridge_bridge.gather.facts import RawColumn, RawRelation
from cartridge_bridge.planning.plan import ColumnSpec
from cartridge_bridge.sql.naming import is_loader_name
from cartridge_bridge.sql.sql_types import is_boolean, is_numeric, is_temporal, is_whole_number

# Words that make a number money or a quantity: it adds up over rows.
_AMOUNT_WORDS = frozenset(
    "amount amt total subtotal cost costs tax taxes discount discounts fee fees revenue quantity qty "
    "balance spend spent price paid refund refunded refunds charge charges duty duties tip tips gross net "
    "sales income budget".split()
)
_QUANTITY_WORDS = frozenset({"quantity", "qty"})
# Words that make an amount a level (what is in stock, what an account holds): it adds up across things at one
# moment, so it is still summed per parent, but a row holding one describes a thing, not an event.
_BALANCE_WORDS = frozenset("inventory stock available sellable on_hand onhand remaining balance".split())
# A last word that makes the number an identifier, a code or a ratio whatever else its name says.
_NOT_ADDITIVE_TAIL = frozenset(
    "id code number num no year years month day type rate ratio percent pct percentage index position count "
    "version sequence status set flag".split()
)
# Words that make an amount a rate, a per-unit figure, a bound or a level: summed over rows it means nothing
# (`unit_amount`, `exchange_rate`, `billing_threshold_amount_gte`, `credit_limit`, `balance`).
_NOT_SUMMED_WORDS = (
    frozenset(
        "unit rate rates ratio percent pct percentage threshold thresholds limit minimum maximum min max "
        "gte gt lte lt per average avg mean median".split()
    )
    | _BALANCE_WORDS
)
# A price alone is per unit: only a total of prices adds up.
_TOTALS = frozenset({"total", "subtotal", "sum", "amount"})
# A timestamp of bookkeeping, not of the event: its first and last say nothing about the business.
_BOOKKEEPING_TIME = re.compile(r"updated|modified|synced|deleted|loaded|extracted|valid_to|_end\b|ended")
# The timestamp that dates an event, best first.
_EVENT_TIME = ("created", "ordered", "occurred", "happened", "processed", "submitted", "opened", "started")
_CURRENCY = re.compile(r"(^|_)currency(_code)?$")


def words(name: str) -> list[str]:
    """`total_tax_set` → `['total', 'tax', 'set']`."""
    return [w for w in name.lower().split("_") if w]


def raw_column(relation: RawRelation, column: ColumnSpec) -> RawColumn | None:
    """The raw column a staged column selects, if it selects one."""
    return relation.column(column.source_column) if column.source_column else None


def is_loader_column(column: ColumnSpec) -> bool:
    """A loader's bookkeeping column (`_fivetran_synced`, `_airbyte_extracted_at`): kept in staging only."""
    raw = column.source_column or column.name
    return raw.startswith("_") or is_loader_name(column.name)


def column_type(column: ColumnSpec) -> str:
    """The type a staged column has after staging's cast."""
    return column.cast_to or column.data_type or ""


def is_bookkeeping_time(name: str) -> bool:
    """A timestamp of bookkeeping (`updated_at`, `_fivetran_synced`), not of an event the business counts."""
    return _BOOKKEEPING_TIME.search(name) is not None


def is_empty(relation: RawRelation, column: ColumnSpec) -> bool:
    """Whether the profile shows the column null on every row (never when the table is empty or unprofiled)."""
    raw = raw_column(relation, column)
    rows = relation.profile.row_count if relation.profile else 0
    return bool(rows and raw is not None and raw.profile is not None and raw.profile.null_count >= rows)


# The shortest identifier limit of a common warehouse (PostgreSQL's 63): a measure's name past it is cut with a
# hash on some warehouse, so the same plan stays readable everywhere.
READABLE_NAME = 63
MAX_FLAGS = 3  # flags split a child's count; more would bury the mart's other columns
# A flag named in a word or two states what a row is (`archived`, `is_deleted`, `has_attachments`); a long one is
# mostly a setting (`exclude_item_billing_from_revenue_accounting`) that nobody counts rows by.
_STATE_WORDS = 2


@dataclass(frozen=True)
class Flag:
    """A boolean of a child that splits its count at the parent: `archived` → archived and not archived."""

    column: str
    yes: str  # the name part of the rows where it is true: `archived`, `with_attachments`
    no: str  # where it is false: `not_archived`, `without_attachments`


def flags(relation: RawRelation, columns: list[ColumnSpec], keys: set[str]) -> list[Flag]:
    """The child's booleans, at most MAX_FLAGS, states first (see _STATE_WORDS), else in column order; none the
    data leaves null on every row.

    A count split by a flag (active and archived projects per team, issues apart from pull requests) is
    what a query with no `case` cannot make from the total. A flag false on every row today still splits
    (no project archived yet is an answer: 0); a loader's `_deleted` marker is bookkeeping.
    """
    found = []
    for column in columns:
        if column.name in keys or is_loader_column(column) or not is_boolean(column_type(column)):
            continue
        if is_empty(relation, column):
            continue
        stem = column.name.removeprefix("is_")
        if stem.startswith("has_"):
            rest = stem.removeprefix("has_")
            found.append(Flag(column.name, f"with_{rest}", f"without_{rest}"))
        else:
            found.append(Flag(column.name, stem, f"not_{stem}"))
    found.sort(key=lambda flag: len(words(flag.yes.removeprefix("with_"))) > _STATE_WORDS)  # stable
    return found[:MAX_FLAGS]


# A price per unit (`price`, `unit_price`, `unit_amount`, `cost_per_unit`): times a quantity it is what a line is
# worth. Other prices (`pre_tax_price`, `compare_at_price`) may already be a line's total or no sale at all.
_UNIT_WORDS = frozenset({"unit", "price", "per", "amount", "cost"})
_QUANTITY_NAMES = frozenset({"quantity", "qty"})


@dataclass(frozen=True)
class Derived:
    """A column of arithmetic between two of the row's own (`left <operator> right`) and what it says."""

    name: str
    left: str
    operator: str
    right: str
    says: str  # what it means, of one `{entity}`


def _is_unit_price(column: ColumnSpec) -> bool:
    """A price per unit by its name, and a number with decimals: a whole-number `price` is more often a price
    level or list's id (1, -1) than money, and a price in cents would make the product a hundred times off."""
    parts = words(column.name)
    return (
        is_numeric(column_type(column))
        and not is_whole_number(column_type(column))
        and bool(parts)
        and set(parts) <= _UNIT_WORDS
        and ("unit" in parts or parts == ["price"])
        and parts != ["unit"]
    )


def extended(relation: RawRelation, columns: list[ColumnSpec]) -> Derived | None:
    """The quantity and the unit price of a line (one of each, named so, numbers, not empty in the data), if it
    has them: what the line is worth is their product, arithmetic no query of a mart may do."""
    quantities = [c for c in columns if c.name in _QUANTITY_NAMES and _filled_number(relation, c)]
    prices = [c for c in columns if _is_unit_price(c) and _filled_number(relation, c)]
    if len(quantities) != 1 or len(prices) != 1:
        return None
    what = [w for w in words(prices[0].name) if w not in ("unit", "per")]
    quantity, price = quantities[0].name, prices[0].name
    return Derived(
        "extended_" + "_".join(what),
        quantity,
        "*",
        price,
        f"`{quantity}` times `{price}`: what the {{entity}} is worth",
    )


# A document's whole amount, and what of it was paid: an invoice, a bill.
_WHOLE_AMOUNTS = frozenset({"amount", "total_amount", "total"})
_PAID_AMOUNTS = frozenset({"payment_amount", "paid_amount", "amount_paid", "total_paid"})


def unpaid(relation: RawRelation, columns: list[ColumnSpec]) -> Derived | None:
    """A document's amount and the part of it paid (one of each, named so, numbers, not empty): what is left
    to pay is their difference."""
    wholes = [c for c in columns if c.name in _WHOLE_AMOUNTS and _filled_number(relation, c)]
    paid = [c for c in columns if c.name in _PAID_AMOUNTS and _filled_number(relation, c)]
    if len(wholes) != 1 or len(paid) != 1:
        return None
    whole, part = wholes[0].name, paid[0].name
    return Derived(
        "unpaid_amount", whole, "-", part, f"`{whole}` minus `{part}`: what is left to pay of the {{entity}}"
    )


def _filled_number(relation: RawRelation, column: ColumnSpec) -> bool:
    return is_numeric(column_type(column)) and not is_empty(relation, column)


def is_amount(column: ColumnSpec) -> bool:
    """A number that adds up over rows: money or a quantity, never an id, a code, a year or a unit price."""
    parts = words(column.name)
    if not parts or not is_numeric(column_type(column)) or parts[-1] in _NOT_ADDITIVE_TAIL:
        return False
    if not _AMOUNT_WORDS & set(parts):
        return False
    return "price" not in parts or bool(_TOTALS & set(parts))


# Words that make a name a count, a time or a ratio of money rather than money (`number_of_refunds`,
# `first_refunded_at`, `refund_rate`).
_NOT_MONEY_WORDS = frozenset("number num count at on date time timestamp rate ratio percent pct".split())


def is_money_name(name: str) -> bool:
    """A column named like money (`amount`, `total_refund_amount`), never a quantity, a count, an id or a rate."""
    parts = words(name)
    return (
        bool(parts)
        and parts[-1] not in _NOT_ADDITIVE_TAIL
        and bool((_AMOUNT_WORDS - _QUANTITY_WORDS) & set(parts))
        and not _QUANTITY_WORDS & set(parts)
        and not _NOT_MONEY_WORDS & set(parts)
    )


def is_additive(column: ColumnSpec) -> bool:
    """An amount whose sum over rows means something: never a unit price, a rate, a threshold or a level."""
    return is_amount(column) and not is_balance(column) and not _NOT_SUMMED_WORDS & set(words(column.name))


def is_balance(column: ColumnSpec) -> bool:
    """A level rather than a flow (`inventory_quantity`, `balance`): it tells no event."""
    parts = words(column.name)
    return bool(_BALANCE_WORDS & set(parts)) or "on_hand" in column.name.lower()


def is_quantity(column: ColumnSpec) -> bool:
    """A count of units, which adds up whatever the currency."""
    return bool(_QUANTITY_WORDS & set(words(column.name)))


@dataclass(frozen=True)
class Currency:
    """What the data says about a table's currency: its column, and the one currency when there is one."""

    column: str | None = None
    single: str | None = None  # the only currency in the data
    mixed: bool = False  # several currencies, or a currency column the profile cannot tell about

    def allows_sum(self, column: ColumnSpec) -> bool:
        """Money is summed only within one currency; quantities always."""
        return is_quantity(column) or not self.mixed


def currency_of(relation: RawRelation, columns: list[ColumnSpec]) -> Currency:
    """The currency column of a table and whether the data holds one currency or several."""
    found = next((c for c in columns if _CURRENCY.search(c.name) and not is_loader_column(c)), None)
    if found is None:
        return Currency()
    raw = raw_column(relation, found)
    stats = raw.profile if raw is not None else None
    values = [v.value for v in stats.top_values or []] if stats is not None else []
    distinct = stats.distinct_count if stats is not None else None
    if distinct is not None and distinct <= 1:
        return Currency(found.name, values[0] if values else None)
    if distinct is None and len(values) == 1 and stats is not None and stats.top_values:
        return Currency(found.name, values[0])
    return Currency(found.name, mixed=True)


_TIME_NAME = re.compile(r"(_at|_on|_date|_time|_timestamp)$|^(created|updated|processed|date)$")


def event_time(relation: RawRelation, columns: list[ColumnSpec], by_name: bool = False) -> ColumnSpec | None:
    """The timestamp that dates a row's event (`created_at` before others), never a bookkeeping one.

    With `by_name`, a column named as a timestamp counts even when it is still text (it tells an event table).
    """
    candidates = [
        c
        for c in columns
        if (is_temporal(column_type(c)) or (by_name and _TIME_NAME.search(c.name) is not None))
        and not is_loader_column(c)
        and not is_bookkeeping_time(c.name)
        and not is_empty(relation, c)
    ]
    for word in _EVENT_TIME:
        for column in candidates:
            if word in column.name:
                return column
    return candidates[0] if candidates else None


def amounts(
    relation: RawRelation, columns: list[ColumnSpec], exclude: set[str], any_currency: bool = False
) -> list[ColumnSpec]:
    """The columns worth a sum, in table order: additive amounts not empty in the data, money only within one
    currency.

    With `any_currency`, money in several currencies counts too (a table with amounts, whether or not they add up).
    """
    currency = currency_of(relation, columns)
    return [
        c
        for c in columns
        if c.name not in exclude
        and not is_loader_column(c)
        and is_additive(c)
        and not is_empty(relation, c)
        and (any_currency or currency.allows_sum(c))
    ]
