"""Which staged tables become marts, and as what: read from the key graph, never from table names.

- A **bridge** (a tag, follower or link table: foreign keys and at most two other columns, none an amount) and a **history**
  table (its grain holds a timestamp, or it is named `*_history` beside its entity's own table) are never marts; they
  feed their parents. A `contact_history` with no `contact` table is the contacts' table, read through its current state.
- A version history that is its entity's only table (`contact_history`, one id repeated per version) and no
  part of another entity (a conversation's parts) is a mart: the entity's current state.
- A **hub** is a table that several tables point at (in-degree ≥ 2 distinct child tables; in a schema where
  no table has two children, every parent). Hubs are marts.
- An entity is a mart too when it is a mart's parent, or the parent of a bridge or of a table with amounts that
  also points at a mart (`tag` through `task_tag`, `product` through `order_item`).
- A table with an event timestamp and amounts (flows, not levels such as stock or a balance) that points at a mart (a payment, a checkout) is a mart (in a
  small schema, with the threshold at 1, any dated child of a mart: a session of a user), and so is
  a line with quantities that points at two unrelated marts (an order's item of a product).

A mart is a fact when it records events: it points at a mart or has lines, has an event timestamp or belongs to a fact
(a line of an order), and has amounts (of its own or of its children) or points at three marts or more (in a
small schema, any dated child of a mart).
A new table that points at an existing mart of the project is a fact of that mart's star.
Everything else that is a mart is a dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cartridge_bridge.context.keys import KeyEdge, entity_of, history_stem
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.state import Staged
from cartridge_bridge.sql.sql_types import is_temporal

_ORDINALS = frozenset(
    {"index", "idx", "line", "line_number", "position", "pos", "seq", "sequence", "ordinal"}
)


@dataclass
class Shapes:
    """The marts of one schema (raw identifier → role) and what every other table is."""

    marts: dict[str, str] = field(default_factory=dict)  # identifier → "dimension" | "fact"
    bridges: set[str] = field(default_factory=set)
    histories: set[str] = field(default_factory=set)


def _fk_columns(table: Staged, edges: list[KeyEdge], external: set[str]) -> set[str]:
    return {table.renamed[e.column] for e in edges if e.child == table.relation.identifier} | external


def _is_bridge(table: Staged, fks: set[str]) -> bool:
    if not fks or (len(table.spec.grain) == 1 and table.spec.grain[0] not in fks):
        return False
    others = [
        c
        for c in table.spec.columns
        if c.name not in fks and c.name not in _ORDINALS and not measures.is_loader_column(c)
    ]
    # A line with amounts (an order's item and its quantity) is no link table, however few its columns.
    return len(others) <= 2 and not any(measures.is_amount(c) for c in others)


def _is_history(table: Staged) -> bool:
    grain = set(table.spec.grain)
    timed = any(is_temporal(measures.column_type(c)) for c in table.spec.columns if c.name in grain)
    return timed or (history_stem(entity_of(table.relation)) is not None and not table.entity_history)


def _independent(marts: set[str], parents: dict[str, set[str]]) -> bool:
    """Whether two of these marts are not parent and child of each other (an order and a product, not an
    inventory item and its level): what makes a table pointing at both a line between two things."""
    return any(b not in parents[a] and a not in parents[b] for a in marts for b in marts if a < b)


def _belongs_to(child: Staged, parent: Staged, edges: list[KeyEdge]) -> bool:
    """Whether a child is part of its parent (an order's lines), not a reference to it (the lines of a product):
    its grain holds the parent's key, or its name is the parent's entity and more (`order_items` of `orders`)."""
    keys = {
        child.renamed[e.column]
        for e in edges
        if e.child == child.relation.identifier and e.parent == parent.relation.identifier
    }
    return bool(keys & set(child.spec.grain)) or child.table.startswith(f"{parent.entity}_")


@dataclass
class _Signals:
    """What the classification reads of each table: its neighbours in the key graph and what it measures."""

    children: dict[str, set[str]]
    parents: dict[str, set[str]]
    amounted: dict[str, bool]
    quantities: dict[str, bool]
    timed: dict[str, bool]
    existing: dict[str, set[str]]  # columns joining an existing mart
    threshold: int  # children that make a hub: 2, or 1 in a schema where no table has two


def _signals(staged: dict[str, Staged], edges: list[KeyEdge], external: dict[str, set[str]]) -> _Signals:
    links = [e for e in edges if e.child != e.parent]
    children = {i: {e.child for e in links if e.parent == i} for i in staged}
    # Levels (stock, balances) describe a thing at a moment; only flows (money paid, units sold) tell events.
    amounts = {
        i: [
            c
            for c in measures.amounts(s.relation, s.spec.columns, set(s.spec.grain), any_currency=True)
            if not measures.is_balance(c)
        ]
        for i, s in staged.items()
    }
    return _Signals(
        children=children,
        parents={i: {e.parent for e in links if e.child == i} for i in staged},
        amounted={i: bool(found) for i, found in amounts.items()},
        quantities={i: any(measures.is_quantity(c) for c in found) for i, found in amounts.items()},
        timed={
            i: measures.event_time(s.relation, s.spec.columns, by_name=True) is not None
            for i, s in staged.items()
        },
        existing={i: external.get(i, set()) for i in staged},
        threshold=2 if any(len(c) >= 2 for c in children.values()) else 1,
    )


def _grow_marts(signals: _Signals, eligible: set[str], bridges: set[str], tracked: set[str]) -> set[str]:
    """The hubs and the `tracked` entities, then every table the rules make a mart because of the marts found so
    far."""
    marts = {i for i in eligible if len(signals.children[i]) >= signals.threshold} | tracked
    parents = signals.parents
    changed = True
    while changed:
        changed = False
        for identifier in sorted(eligible - marts):
            via = any(
                child in marts
                or ((child in bridges or signals.amounted[child]) and parents[child] & marts - {identifier})
                for child in signals.children[identifier]
            )
            # A new table that points at an existing mart is the new fact of that star, whatever it measures.
            # In a small schema (no table with two children) any dated child of a mart is an event worth a fact.
            existing = bool(signals.existing[identifier])
            event = (
                signals.timed[identifier] and (signals.amounted[identifier] or signals.threshold == 1)
            ) or existing
            # A line of several marts with quantities (an order's item of a product) is a fact of its own.
            line = signals.quantities[identifier] and _independent(parents[identifier] & marts, parents)
            if via or line or (event and (parents[identifier] & marts or existing)):
                marts.add(identifier)
                changed = True
    return marts


# At most this many columns besides its key, foreign keys and the loader's: a lookup (a flow's name, status and
# trigger), not an entity with a profile of its own.
_LOOKUP_ATTRIBUTES = 8


def _lookups(
    staged: dict[str, Staged],
    edges: list[KeyEdge],
    signals: _Signals,
    marts: set[str],
    external: dict[str, set[str]],
) -> list[str]:
    """The marts that are small lookups no mart points at or belongs to: only links and event tables with no mart of
    their own refer to them, so a mart of them would stand alone, a copy of their staging model with counts. The
    least to them first: fewest attributes, then fewest tables referring to them."""
    found = []
    for identifier in sorted(marts):
        if (signals.children[identifier] | signals.parents[identifier]) & marts or signals.existing[
            identifier
        ]:
            continue
        table = staged[identifier]
        keys = set(table.spec.grain) | _fk_columns(table, edges, external.get(identifier, set()))
        attributes = [
            c for c in table.spec.columns if c.name not in keys and not measures.is_loader_column(c)
        ]
        if len(attributes) <= _LOOKUP_ATTRIBUTES:
            found.append((len(attributes), len(signals.children[identifier]), identifier))
    return [identifier for *_, identifier in sorted(found)]


def _facts(signals: _Signals, marts: set[str], staged: dict[str, Staged], edges: list[KeyEdge]) -> set[str]:
    """The marts that record events; the others are dimensions."""
    facts = {i for i in marts if signals.existing[i]}
    changed = True
    while changed:
        changed = False
        for identifier in sorted(marts - facts):
            mart_parents = signals.parents[identifier] & marts
            # The parent of lines (quantities, no time of their own: an order's items) is a transaction.
            has_lines = any(
                signals.quantities[c]
                and not signals.timed[c]
                and _belongs_to(staged[c], staged[identifier], edges)
                for c in signals.children[identifier]
            )
            if not mart_parents and not has_lines:
                continue
            timed = signals.timed[identifier]
            dated = timed or bool(mart_parents & facts)
            amounted = signals.amounted[identifier] or any(
                signals.amounted[c] for c in signals.children[identifier]
            )
            small = signals.threshold == 1 and timed
            if dated and (amounted or len(mart_parents) >= 3 or small):
                facts.add(identifier)
                changed = True
    return _without_hubs_of_events(signals, facts, staged, edges)


def _without_hubs_of_events(
    signals: _Signals, facts: set[str], staged: dict[str, Staged], edges: list[KeyEdge]
) -> set[str]:
    """The facts but the entities several events point at: what the events happen to (an account, a plan, a
    price, a card) is a dimension, whatever its own amounts or links.

    Kept: a fact whose events are its own lines (an invoice's items, which point at nothing else's events), and
    one that is itself an event of a kept fact (a refund of an order, which the order's transactions point at).
    Two entities pointing at each other (an account's default card, the card's account) tell nothing of which
    is the event.
    """
    while True:
        hubs = {i for i in facts if sum(c in facts for c in signals.children[i]) >= 2}
        hubs -= {
            i
            for i in hubs
            if any(
                c in facts - hubs and _belongs_to(staged[c], staged[i], edges) for c in signals.children[i]
            )
        }
        demoted = {
            i
            for i in hubs
            if not any(p in facts - hubs and i not in signals.parents[p] for p in signals.parents[i])
        }
        if not demoted:
            return facts
        facts = facts - demoted


def _within_budget(
    signals: _Signals, marts: set[str], facts: set[str], budget: int, staged: dict[str, Staged]
) -> set[str]:
    """At most `budget` marts: the facts most tied into the star, and the dimensions most facts point at.

    A reader keeps few marts: each fact needs the dimensions its events point at, so the facts get at most half
    the budget when there are dimensions to fill the rest (more when there are not). Facts rank by how many marts
    they link (parents and children: an invoice's item of a subscription and a product before a lone refund);
    dimensions by how many of the kept facts point at them, then by how many tables do, then by how much they
    describe (a customer's twenty attributes before a lookup's name). What is left out stays staged, and its
    counts still reach the marts it points at.
    """
    if len(marts) <= budget:
        return marts
    place = {identifier: n for n, identifier in enumerate(staged)}

    def links(i: str) -> int:
        return len((signals.parents[i] | signals.children[i]) & marts)

    ranked_facts = sorted(facts, key=lambda i: (-links(i), place[i]))
    dimensions = marts - facts
    kept_facts = ranked_facts[: min(len(facts), max(budget - len(dimensions), (budget + 1) // 2))]
    pointed = {i: sum(c in kept_facts for c in signals.children[i]) for i in dimensions}
    ranked_dimensions = sorted(
        dimensions,
        key=lambda i: (-pointed[i], -len(signals.children[i]), -len(staged[i].spec.columns), place[i]),
    )
    return set(kept_facts) | set(ranked_dimensions[: budget - len(kept_facts)])


def mart_shapes(
    staged: dict[str, Staged],
    edges: list[KeyEdge],
    external: dict[str, set[str]],
    budget: int | None = None,
) -> Shapes:
    """Classify the staged tables; `external` maps a table to its columns that join an existing mart; at most
    `budget` marts when given (see `_within_budget`)."""
    shapes = Shapes()
    for identifier, table in staged.items():
        fks = _fk_columns(table, edges, external.get(identifier, set()))
        if _is_bridge(table, fks):
            shapes.bridges.add(identifier)
        elif _is_history(table):
            shapes.histories.add(identifier)
    eligible = {
        i for i, s in staged.items() if s.spec.grain and i not in shapes.bridges and i not in shapes.histories
    }
    signals = _signals(staged, edges, external)
    # An entity whose versions the loader keeps (`contact_history`, the contacts' only table) is one whose state a
    # reader asks about, whether or not the sample's keys join it: its current state is a dimension. Not a part of
    # another entity (a conversation's parts): that one's counts go to its parent, as any child's do.
    tracked = {
        i
        for i in eligible
        if staged[i].entity_history
        and len(staged[i].spec.grain) == 1
        and not any(_belongs_to(staged[i], staged[p], edges) for p in signals.parents[i])
    }
    marts = _grow_marts(signals, eligible, shapes.bridges, tracked)
    if budget is not None and len(marts) > budget:
        # Over the budget, small lookups give way first (the least to them first, as many as it takes): their staging
        # models serve whoever looks them up.
        marts -= set(_lookups(staged, edges, signals, marts, external)[: len(marts) - budget])
    facts = _facts(signals, marts, staged, edges)
    if budget is not None:
        marts = _within_budget(signals, marts, facts, budget, staged)
        facts &= marts
    shapes.marts = {i: ("fact" if i in facts else "dimension") for i in staged if i in marts}
    return shapes
