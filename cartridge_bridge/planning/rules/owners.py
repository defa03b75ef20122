"""A fact's owner, and what the owner's history of facts makes of each row: its number and whether it is the first.

An **owner** is what a fact's rows belong to, whose balance people follow (the account an invoice bills, the
customer an order is for): a mart the fact points at by a plain `<parent>_id` (not a role such as
`billing_account_id`, not itself) that belongs to nothing itself by such a key (a customer, not the order a
payment settles). Of several, one named as a party (customer, account, user, …) before a place or a thing;
then the one the most tables point at; of equals, the first.

Each row of a fact a party owns gets its number among the party's rows by the fact's business time
(`customer_order_number`: the customer's 1st, 2nd order) and a flag for the first (`is_first_order`): new
against repeat orders is then a count of a flag, which no query without `case` or a window can make.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from cartridge_bridge.context.keys import KeyEdge
from cartridge_bridge.planning.plan import ColumnSpec
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.state import Staged

# Entities that are parties: they hold balances and come back. A word of the entity's name is enough
# (`billing_account`, `end_user`).
_PARTY_WORDS = frozenset(
    "account accounts customer customers client clients member members user users subscriber subscribers "
    "buyer buyers shopper shoppers patient patients person people contact contacts company companies "
    "organization organizations organisation organisations household households tenant tenants".split()
)


@dataclass(frozen=True)
class Owner:
    """The fact's column holding its owner's key, and the owner's entity (`customer_id`, `customer`)."""

    column: str
    entity: str
    party: (
        bool  # named as a party: someone who comes back, so a first row against a repeat one means something
    )


def owner_of(
    staged: dict[str, Staged], edges: list[KeyEdge], identifier: str, marts: set[str]
) -> Owner | None:
    """The owner of the fact `identifier` among the marts `marts` (see the module's docstring), or None."""
    plain = [e for e in edges if e.child != e.parent and not e.role and e.parent in marts]
    belongs = {e.child for e in plain}
    pointing = Counter(e.parent for e in plain)
    owners = [e for e in plain if e.child == identifier and e.parent not in belongs]
    if not owners:
        return None

    def is_party(edge: KeyEdge) -> bool:
        return bool(_PARTY_WORDS & set(measures.words(staged[edge.parent].entity)))

    owner = max(owners, key=lambda e: (is_party(e), pointing[e.parent]))
    column = staged[identifier].renamed.get(owner.column, owner.column)
    return Owner(column, staged[owner.parent].entity, is_party(owner))


def sequence_columns(
    table: Staged, alias: str, owner: Owner, time: ColumnSpec, carried: set[str]
) -> list[ColumnSpec]:
    """The row's number among its owner's rows by `time` (ties by the row's key), and the flag of the first;
    both null on a row without an owner. None unless the owner is a party, the mart carries the owner's key, the time and the row's
    one key column (`carried`) and has neither name. A window function: the mart's own rows, never an
    incremental run's."""
    name, flag = f"{owner.entity}_{table.entity}_number", f"is_first_{table.entity}"
    needed = {owner.column, time.name, *table.spec.grain}
    if not owner.party or len(table.spec.grain) != 1 or not needed <= carried or {name, flag} & carried:
        return []  # a name the mart has already, or past what every warehouse reads, is left out
    if len(name) > measures.READABLE_NAME:
        return []
    key, thing = table.spec.grain[0], docs.words(table.entity)
    order = f"order by {alias}.{time.name}, {alias}.{key}"
    number = f"row_number() over (partition by {alias}.{owner.column} {order})"
    present = f"{alias}.{owner.column} is not null"
    party = docs.words(owner.entity)
    return [
        ColumnSpec(
            name=name,
            expression=f"case when {present} then {number} end",
            description=f"Which of its {party}'s {docs.words(table.table)} this is by `{time.name}` (1: the "
            f"first; ties by `{key}`); null without a {party}.",
        ),
        ColumnSpec(
            name=flag,
            expression=f"case when {present} then {number} = 1 end",
            data_type="boolean",
            description=f"True for its {party}'s first {thing} by `{time.name}` (a new {party}), false for a "
            f"repeat one; null without a {party}.",
        ),
    ]
