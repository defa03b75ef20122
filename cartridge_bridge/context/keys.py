"""Find the key structure of raw tables: primary keys and the foreign keys that join them."""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.context.naming import singular, snake_case
from cartridge_bridge.gather.facts import RawRelation


@dataclass(frozen=True)
class KeyEdge:
    """`child.column` points at `parent.parent_column` (raw names, as the warehouse spells them)."""

    child: str
    column: str
    parent: str
    parent_column: str
    declared: bool


def entity_of(relation: RawRelation) -> str:
    """The singular snake_case entity a table holds one row of (`order_items` → `order_item`)."""
    return singular(snake_case(relation.identifier))


def primary_key(relation: RawRelation) -> str | None:
    """The single-column primary key: declared, else `id`, else `<entity>_id`; None when unclear."""
    if len(relation.primary_key) == 1:
        return relation.primary_key[0]
    if relation.primary_key:
        return None  # a composite key is a grain of several columns (the rules planner tests the combination)
    by_snake = {snake_case(c.name): c.name for c in relation.columns}
    for candidate in ("id", f"{entity_of(relation)}_id"):
        if candidate in by_snake:
            return by_snake[candidate]
    return None


def foreign_keys(relations: list[RawRelation]) -> list[KeyEdge]:
    """Declared foreign keys within these relations, plus `<entity>_id` columns that name another table."""
    by_identifier = {r.identifier: r for r in relations}
    by_entity = {entity_of(r): r for r in relations}
    edges: list[KeyEdge] = []
    seen: set[tuple[str, str]] = set()
    for child in relations:
        for key in child.foreign_keys:
            # The warehouse said where these columns point; never second-guess it from their names.
            seen.update((child.identifier, column) for column in key.columns)
            parent = by_identifier.get(key.ref_identifier)
            if len(key.columns) == 1 and parent is not None and key.ref_schema == child.schema_:
                edges.append(
                    KeyEdge(child.identifier, key.columns[0], parent.identifier, key.ref_columns[0], True)
                )
        own_key = primary_key(child)
        for column in child.columns:
            name = snake_case(column.name)
            if column.name == own_key or (child.identifier, column.name) in seen or not name.endswith("_id"):
                continue
            parent = by_entity.get(name[: -len("_id")])
            if parent is None or parent.identifier == child.identifier:
                continue
            parent_key = primary_key(parent)
            if parent_key is not None:
                edges.append(KeyEdge(child.identifier, column.name, parent.identifier, parent_key, False))
    return edges
