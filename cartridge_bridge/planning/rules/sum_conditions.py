"""When a table's amounts may be summed: signed by its debit/credit column, over its successful states only, or not.

A ledger line's amount means nothing summed without its side, and a failed charge is no money: the values of
those columns decide, and they are known only when the profile read them (top values, an opt-in). Unknown,
the amounts stay out of every sum and the intermediate's description says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cartridge_bridge.gather.facts import RawRelation
from cartridge_bridge.planning.plan import ColumnSpec, ConditionalAggregate
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.sql.identifiers import string_literal_body
from cartridge_bridge.sql.sql_fragments import expression_problem, literal_problem
from cartridge_bridge.sql.sql_types import is_numeric, is_text

# A column telling a ledger line's side: `posting_type`, `debit_credit`, `dr_cr`, `entry_side`.
_SIDE_WORDS = frozenset({"debit", "credit", "dr", "cr", "posting"})
_SIDE_ONLY = _SIDE_WORDS | frozenset({"type", "side", "or", "indicator", "sign", "entry"})
_DEBITS = frozenset({"debit", "dr", "d", "debits"})
_CREDITS = frozenset({"credit", "cr", "c", "credits"})
# A column telling whether the row's event happened: `status`, `payment_status`, `outcome`.
_STATUS_TAILS = ("_status", "_outcome", "_result")
_STATUS_NAMES = frozenset({"status", "state", "outcome", "result"})
# An order's lifecycle counts too: a shipped or delivered order is a sale as much as a completed one (summing
# `completed` alone would leave out every order still on its way).
_SUCCESSFUL = frozenset(
    "succeeded success successful paid complete completed settled captured posted approved processed "
    "fulfilled done shipped delivered".split()
)

# A column whose few values split a child's count at its parent: `status`, `state`, `issue_type`, `kind`.
_SPLIT_TAILS = ("_status", "_state", "_type", "_kind", "_outcome", "_result", "_category")
_SPLIT_NAMES = frozenset({"status", "state", "type", "kind", "outcome", "result", "category"})
# A split by more values would bury the parent's other columns; a column with more is not split at all.
MAX_SPLIT_VALUES = 6
MAX_SPLITS = 8
_ADDRESS_WORDS = frozenset(
    {"city", "country", "zip", "postal", "postcode", "address", "province", "region"}
)  # values split on per child, over all its columns, states first

# Kinds of a payment event that move no money (an authorization, a check) or move it back (a void, a refund).
_NO_MONEY_MOVED = frozenset(
    "authorization authorisation auth preauthorization pre_authorization verify verification void voided "
    "refund refunded chargeback hold".split()
)


@dataclass(frozen=True)
class SumCondition:
    """How the amounts of one table are summed: `template` wraps an amount (`{0}`); None with `why`: not summed.

    `where`: the amounts are summed over the rows where it holds, a conditional aggregate of the plan.
    """

    template: str | None = "{0}"
    why: str = ""
    where: str | None = None

    def measure(self, amount: str) -> str | ConditionalAggregate | None:
        """The sum of one amount: a conditional aggregate over the rows `where` holds, an expression, or None
        when the amounts are not summed."""
        if self.template is None:
            return None
        if self.where is not None:
            return ConditionalAggregate(function="sum", column=amount, where=self.where)
        return f"sum({self.template.format(amount)})"

    def expression(self, amount: str) -> str | None:
        """The SQL of the sum of one amount, or None when the amounts are not summed."""
        measure = self.measure(amount)
        return measure.sql() if isinstance(measure, ConditionalAggregate) else measure


def _is_side(column: ColumnSpec) -> bool:
    parts = set(measures.words(column.name))
    return bool(parts & _SIDE_WORDS) and parts <= _SIDE_ONLY and not is_numeric(measures.column_type(column))


def _is_status(column: ColumnSpec) -> bool:
    name = column.name.lower()
    return (name in _STATUS_NAMES or name.endswith(_STATUS_TAILS)) and not is_numeric(
        measures.column_type(column)
    )


def _values(relation: RawRelation, column: ColumnSpec) -> list[str] | None:
    """The column's values when the profile read them all (top values, and no more distinct values than those)."""
    raw = measures.raw_column(relation, column)
    stats = raw.profile if raw is not None else None
    if stats is None or not stats.top_values:
        return None
    values = [v.value for v in stats.top_values]
    if stats.distinct_count is not None and stats.distinct_count > len(values):
        return None
    return values


def _signed(relation: RawRelation, side: ColumnSpec) -> SumCondition:
    values = _values(relation, side)
    debits = [v for v in values or [] if v.strip().lower() in _DEBITS]
    credits = [v for v in values or [] if v.strip().lower() in _CREDITS]
    if values is None or not debits or len(debits) + len(credits) != len(values):
        return SumCondition(
            None, f"its sign is in `{side.name}`, whose debit and credit values the profile did not read"
        )
    # Only values made of the letters above reach the SQL, so quoting them is safe.
    debit = " or ".join(f"{side.name} = '{v}'" for v in debits)
    credit = " or ".join(f"{side.name} = '{v}'" for v in credits)
    negative = f" when {credit} then -{{0}}" if credits else ""
    return SumCondition(f"case when {debit} then {{0}}{negative} end")


def _successful(relation: RawRelation, statuses: list[ColumnSpec], kinds: list[ColumnSpec]) -> SumCondition:
    tests = []
    for status in statuses:
        values = _values(relation, status)
        good = [v for v in values or [] if v.strip().lower() in _SUCCESSFUL]
        if not good:
            known = "shows no successful one" if values else "were not read by the profile"
            return SumCondition(None, f"it has a `{status.name}` whose states {known}")
        quoted = ", ".join(f"'{v}'" for v in good)  # values from the list above only: safe to quote
        tests.append(f"{status.name} in ({quoted})")
    # A successful authorization moves no money, and its capture moves the same money again: a kind the data
    # shows beside others that moves none (or moves it back) stays out of the sum.
    for kind in kinds:
        values = _values(relation, kind) or []
        held = [v for v in values if v.strip().lower() in _NO_MONEY_MOVED]
        if held and len(held) < len(values):
            quoted = ", ".join(f"'{v}'" for v in held)  # values from the list above only: safe to quote
            tests.append(f"({kind.name} is null or {kind.name} not in ({quoted}))")
    where = " and ".join(tests)
    return SumCondition(f"case when ({where}) then {{0}} end", where=where)


def sum_condition(relation: RawRelation, columns: list[ColumnSpec]) -> SumCondition:
    """How this table's amounts are summed: signed, over its successful states, as they are, or not at all."""
    own = [c for c in columns if not measures.is_loader_column(c)]
    side = next((c for c in own if _is_side(c)), None)
    if side is not None:
        return _signed(relation, side)
    statuses = [c for c in own if _is_status(c)]
    kinds = [c for c in own if _is_split(c) and not _is_status(c)]
    return _successful(relation, statuses, kinds) if statuses else SumCondition()


def status_values(relation: RawRelation, columns: list[ColumnSpec]) -> dict[str, list[str] | None]:
    """The table's status columns, as `sum_condition` finds them, each with its values when the profile read them
    all (None otherwise): what another planner splits a measure by."""
    own = [c for c in columns if not measures.is_loader_column(c)]
    return {c.name: _values(relation, c) for c in own if _is_status(c)}


@dataclass(frozen=True)
class Split:
    """One value of a child's state or type column: its rows counted apart at the parent (`number_of_charges_
    succeeded`). `where` holds the value escaped as one SQL literal."""

    column: str
    value: str
    part: str  # the value as a name part: `succeeded`, `fixed_amount`
    where: str
    state: bool  # a state (`status`) rather than a type: amounts are summed per type only


def value_condition(column: str, value: str, adapter_type: str) -> str | None:
    """`<column> = '<value>'` with the value read from the data escaped as one literal for the adapter, or None
    when it cannot be written safely (a quote the adapter cannot escape, Jinja, a control character)."""
    body = string_literal_body(value, adapter_type)
    if body is None or literal_problem(value, adapter_type) is not None:
        return None
    where = f"{column} = '{body}'"
    return None if expression_problem(where, adapter_type) is not None else where


def _is_split(column: ColumnSpec) -> bool:
    name = column.name.lower()
    return (name in _SPLIT_NAMES or name.endswith(_SPLIT_TAILS)) and is_text(measures.column_type(column))


def splits(
    relation: RawRelation, columns: list[ColumnSpec], keys: set[str], adapter_type: str
) -> list[Split]:
    """The values a child's count is split by at its parent: each value of a state or type column whose values
    the data shows all (two to MAX_SPLIT_VALUES of them), states before types, at most MAX_SPLITS in all.

    A column is split on all its values or none: one value refused (not writable as a literal, or two values
    making the same name) would leave counts that do not add up to the total. A value that is another one with
    spaces around it (`'percentage '` beside `'percentage'`) is a typing slip, not a state of its own: its rows
    fall in no split, as an exact match leaves them.
    """
    # `state` beside a `city` or a `country` is where someone lives, not a state a row is in.
    postal = any(_ADDRESS_WORDS & set(measures.words(c.name)) for c in columns)
    candidates = [
        c
        for c in columns
        if c.name not in keys
        and not measures.is_loader_column(c)
        and _is_split(c)
        and not (postal and "state" in measures.words(c.name))
    ]
    candidates.sort(key=lambda c: not _is_status(c))  # stable: states first
    found: list[Split] = []
    for column in candidates:
        read = _values(relation, column) or []
        values = [v for v in read if v == v.strip() or v.strip() not in read]
        if not 2 <= len(values) <= MAX_SPLIT_VALUES:
            continue
        parts = [re.sub(r"[^a-z0-9]+", "_", v.lower()).strip("_") for v in values]
        wheres = [value_condition(column.name, v, adapter_type) for v in values]
        readable = all(p and not p[0].isdigit() for p in parts) and len(set(parts)) == len(parts)
        if not readable or None in wheres or len(found) + len(values) > MAX_SPLITS:
            continue
        found.extend(
            Split(column.name, v, p, w, _is_status(column))
            for v, p, w in zip(values, parts, wheres, strict=True)
            if w is not None
        )
    return found
