"""A parent's whole amount after its children's adjustments and refunds: `adjusted_total_price` of an order.

An order's `total_price` is what it was worth when placed; what it is worth now adds its adjustments' amounts and
takes away its refunds'. Each child's sums are pre-aggregated to the parent's grain (the intermediates the mart
joins on its key), so the arithmetic reads one row per parent and nothing fans out. A child is adjustment-like
or refund-like by its table's name (`order_adjustment`, `order_line_refund`, `returns`); its money sums count,
never its quantities, nor a sum split by a type (already in the whole). Only the mart's own children count: a
grandchild rolled up through another mart (refund lines through the refund) is joined later and left out, which the
column's description says.
"""

from __future__ import annotations

import re

from cartridge_bridge.planning.plan import ColumnSpec, MartJoin
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.aggregates import Aggregate
from cartridge_bridge.planning.rules.state import Staged

# A document's whole amount, as placed: what adjustments add to and refunds take from.
_WHOLE_AMOUNTS = ("total_price", "total_amount", "total", "amount")
_ADDING = frozenset({"adjustment", "adjustments"})
_TAKING = frozenset({"refund", "refunds", "return", "returns"})
_SUM_OF = re.compile(r"sum\(([a-z_][a-z0-9_]*)\)")


def _money_sums(aggregate: Aggregate, join: MartJoin) -> list[tuple[str, str]]:
    """(the child's column, the mart's reference to its per-parent sum) for each plain money sum of one child."""
    typed = {c.name: c for c in aggregate.child.spec.columns}
    found = []
    for measure in aggregate.measures:
        summed = _SUM_OF.fullmatch(measure.computed() or "")
        column = typed.get(summed.group(1)) if summed else None
        if column is None or measure.name in aggregate.split or measures.is_quantity(column):
            continue
        if measures.is_amount(column):
            found.append((column.name, f"coalesce({join.alias}.{measure.name}, 0)"))
    return found


def adjusted_total(
    table: Staged, alias: str, aggregates: list[Aggregate], joins: list[MartJoin], taken: set[str]
) -> ColumnSpec | None:
    """The parent's whole amount plus its adjustment-like children's money sums minus its refund-like children's,
    or None when it has no whole amount or no such child. `joins` are the aggregates' joins, in their order."""
    columns = {c.name: c for c in table.spec.columns}
    whole = next(
        (name for name in _WHOLE_AMOUNTS if name in columns and measures.is_amount(columns[name])), None
    )
    name = f"adjusted_{whole}"
    if whole is None or name in taken:
        return None
    added: list[str] = []
    taken_away: list[str] = []
    said: list[str] = []
    seen: set[str] = set()
    for aggregate, join in zip(aggregates, joins, strict=True):
        words = set(measures.words(aggregate.child.table))
        sign = "+" if words & _ADDING else "-" if words & _TAKING else None
        # A child reaching the parent by two keys is one set of rows: counted once.
        if sign is None or aggregate.child.table in seen or aggregate.role:
            continue
        sums = _money_sums(aggregate, join)
        if not sums:
            continue
        seen.add(aggregate.child.table)
        (added if sign == "+" else taken_away).extend(reference for _, reference in sums)
        amounts = " and ".join(f"`{column}`" for column, _ in sums)
        said.append(
            f"{'plus' if sign == '+' else 'minus'} its {docs.words(aggregate.child.table)}' {amounts}"
        )
    if not said:
        return None
    expression = " ".join([f"{alias}.{whole}", *(f"+ {a}" for a in added), *(f"- {t}" for t in taken_away)])
    return ColumnSpec(
        name=name,
        expression=expression,
        description=(
            f"`{whole}` {', '.join(said)}, each summed per {docs.words(table.entity)} before the join (0 when "
            f"none): what the {docs.words(table.entity)} is worth after them (a child reaching it only through "
            f"another mart is not in it)."
        ),
    )
