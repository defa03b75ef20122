"""Find the key structure of raw tables: primary keys and the foreign keys that join them."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from cartridge_bridge.gather.facts import ContainedValues, RawColumn, RawRelation
from cartridge_bridge.sql.naming import singular, snake_case
from cartridge_bridge.sql.sql_types import is_text, type_family

# How a foreign key is known: the warehouse declares it, the data holds it, its name says so, or its name says so
# and the data does not hold it (values the parent's key lacks).
EdgeEvidence = Literal["declared", "checked", "named", "refuted"]


@dataclass(frozen=True)
class KeyEdge:
    """`child.column` points at `parent.parent_column` (raw names, as the warehouse spells them).

    `role` is what the column's name says beyond the parent's entity (`billing` for `billing_customer_id`,
    `parent` for a `parent_id` pointing at its own table); empty for a declared key or `<parent>_id`.
    `counts` is what the data showed, when it was counted and some values were missing: (distinct values of
    the column, how many of them the parent's key holds); not part of the edge's identity.
    """

    child: str
    column: str
    parent: str
    parent_column: str
    declared: bool
    role: str = ""
    counts: tuple[int, int] | None = field(default=None, compare=False)

    @property
    def self_reference(self) -> bool:
        """The child points at its own table (`task.parent_id` → `task.id`): a tree, not a parent entity."""
        return self.child == self.parent


def entity_of(relation: RawRelation) -> str:
    """The singular snake_case entity a table holds one row of (`order_items` → `order_item`)."""
    return singular(snake_case(relation.identifier))


# How a table keeping every version of an entity's rows ends its (singular) name: `contact_history`,
# `account_versions`, `plan_snapshots`.
_HISTORY_SUFFIXES = ("_history", "_version", "_snapshot")


def history_stem(entity: str) -> str | None:
    """The entity a version history's name says it tracks (`contact_history` → `contact`); None for another name."""
    for suffix in _HISTORY_SUFFIXES:
        stem = singular(entity.removesuffix(suffix))
        if entity.endswith(suffix) and stem:
            return stem
    return None


def tracked_entity(entity: str, versioned: bool, entities: Collection[str]) -> str:
    """The entity a table's rows are: a version history's stem when the schema has no table of that entity (its
    rows are the contacts themselves, every version of each), else the table's own `entity`."""
    stem = history_stem(entity) if versioned else None
    return stem if stem is not None and stem not in entities else entity


def entities_by_table(relations: list[RawRelation]) -> dict[str, str]:
    """Each table's identifier → the entity other tables' `<entity>_id` columns name it by: `entity_of`, but the
    stem of a version history of one entity (one id repeated, a version completing it) whose entity has no table
    of its own, so that `conversation_id` joins `conversation_history` on a schema of histories only."""
    own = {r.identifier: entity_of(r) for r in relations}
    names = set(own.values())
    tracked = {}
    for relation in relations:
        key = table_key(relation) if history_stem(own[relation.identifier]) else None
        versioned = key is not None and len(key.columns) == 1 and bool(key.latest_by)
        tracked[relation.identifier] = tracked_entity(own[relation.identifier], versioned, names)
    # Two histories claiming one entity (`contact_history`, `contact_versions`): neither takes it.
    claimed = [e for i, e in tracked.items() if e != own[i]]
    return {i: e if claimed.count(e) < 2 else own[i] for i, e in tracked.items()}


# Columns that number the rows of one parent: (`order_id`, `index`) is a line table's key.
_ORDINALS = frozenset(
    {"index", "idx", "line", "line_number", "line_no", "position", "pos", "seq", "sequence", "ordinal"}
)
_ORDINAL_SUFFIXES = ("_index", "_position", "_line_number", "_sequence")
# Columns that tell one parent's rows apart when nothing numbers them (a map's key, an attribute's name);
# weaker than an ordinal, so only taken when the data shows the combination unique.
_DISCRIMINATORS = ("key", "name", "code")
# How many column combinations one table's check counts at most (one scan each).
MAX_COMBINATIONS = 40
# A role name for the table's own entity: `parent_id` in `task` points at another task.
_SELF_ROLES = frozenset({"parent"})
# A role-named foreign key is taken, and any foreign key `checked`, when the parent's key holds at least this
# share of its distinct values; below it, a missing value `refuted`s a name-made key.
CONTAINED_SHARE = 0.95
# Fewer distinct values than this prove nothing: small integers sit in any table of ids by chance. Only a
# confirmation needs it: a value the parent lacks is missing however few values there are.
CONTAINED_MIN_DISTINCT = 3
# A row version: several rows per id, the latest one by these (in this order of preference) is current.
# Loaders' own columns come from Fivetran, Airbyte, Stitch and dbt snapshots; a business `updated_at` beats
# a sync time, which only orders versions as the loader saw them.
_VERSIONS = (
    "_fivetran_start",
    "dbt_valid_from",
    "valid_from",
    "effective_from",
    "_ab_cdc_updated_at",
    "updated_at",
    "updated",
    "modified_at",
    "_sdc_sequence",
    "_fivetran_synced",
    "_airbyte_extracted_at",
    "_airbyte_emitted_at",
    "_sdc_batched_at",
)
# Columns dating one version of a parent's row in a history (`ticket_id`, `field_name`, `updated`).
_CHANGES = ("valid_from", "updated_at", "updated", "modified_at", "created_at", "created")
# Markers that a table keeps every version of its rows, by name alone (with data, repeated ids tell): a version's
# validity. Not `_fivetran_active` alone: Fivetran documents it as whether a row is the active record, and on a table
# with no `_fivetran_start`/`_fivetran_end` (ids unique on the data) it only marks deleted rows, like
# `_fivetran_deleted`.
_HISTORY_MARKERS = frozenset(
    {"_fivetran_start", "_fivetran_end", "valid_from", "valid_to", "dbt_valid_to", "effective_to"}
)


@dataclass(frozen=True)
class TableKey:
    """A raw table's key (raw column names; empty when unclear) and how it was found.

    A history table (several rows per id, one per version) has `latest_by`: its staging keeps the latest
    row per key, ordered by these columns descending, and the key holds after that.
    """

    columns: tuple[str, ...] = ()
    evidence: str = "none"  # declared, data, names or none
    latest_by: tuple[str, ...] = ()


def is_metadata(name: str) -> bool:
    """A loader's bookkeeping column (`_fivetran_synced`, `_airbyte_extracted_at`): never part of a key."""
    return name.startswith("_")


def _unique(relation: RawRelation, columns: tuple[str, ...]) -> bool | None:
    """Whether these columns are unique and never null on the data; None when the profile cannot tell."""
    profile = relation.profile
    if profile is None or profile.row_count == 0:
        return None
    stats = [c.profile for name in columns if (c := relation.column(name)) is not None]
    if len(stats) != len(columns) or any(s is None for s in stats):
        return None
    if any(s.null_count for s in stats if s is not None):
        return False
    if any(s is not None and s.distinct_count == profile.row_count for s in stats):
        return True  # one column unique on its own: any combination holding it is too
    if len(columns) == 1:
        distinct = stats[0].distinct_count if stats[0] is not None else None
    else:
        distinct = profile.combination_count(columns)
    return None if distinct is None else distinct == profile.row_count


def _nulls(relation: RawRelation, name: str) -> int | None:
    column = relation.column(name)
    return column.profile.null_count if column is not None and column.profile is not None else None


def _single_candidates(relation: RawRelation) -> list[str]:
    """Columns whose name says "the key of this table": `id`, `<entity>_id`, `<entity>` (raw spelling).

    A column named as the table is its key only in a table pointing at no parent: next to a `<parent>_id`
    it is the value of a list the parent owns (`domain_name` of an organization).
    """
    by_snake = {snake_case(c.name): c.name for c in relation.columns}
    entity = entity_of(relation)
    names = ["id", f"{entity}_id"]
    if not any(n.endswith("_id") and not is_metadata(c) for n, c in by_snake.items() if n != "id"):
        names += [entity, snake_case(relation.identifier)]
    return list(dict.fromkeys(by_snake[n] for n in names if n in by_snake))


def _versions(relation: RawRelation) -> tuple[str, ...]:
    """The columns ordering a history table's versions: `_fivetran_active` first, then one version column."""
    # Lower case, not snake_case: snake_case drops the leading underscore that marks loader metadata.
    by_lower = {c.name.lower(): c.name for c in relation.columns}
    active = ("_fivetran_active",) if "_fivetran_active" in by_lower else ()
    found = tuple(by_lower[n] for n in active) + tuple(by_lower[n] for n in _VERSIONS if n in by_lower)[:1]
    return found


def _parents(relation: RawRelation, entities: frozenset[str]) -> list[str]:
    """`<parent>_id` columns, those naming a table of the schema first."""
    ids = [
        c.name
        for c in relation.columns
        if snake_case(c.name).endswith("_id") and not is_metadata(c.name) and snake_case(c.name) != "id"
    ]
    return sorted(ids, key=lambda name: snake_case(name)[: -len("_id")] not in entities)


def _ordinals(relation: RawRelation) -> list[str]:
    return [
        c.name
        for c in relation.columns
        if snake_case(c.name) in _ORDINALS or snake_case(c.name).endswith(_ORDINAL_SUFFIXES)
    ]


# Columns where one of an entity's intervals starts (a schedule's opening hours, a plan's price periods): an id
# repeated once per interval is keyed on (id, start) when the data shows the pair unique.
_INTERVAL_STARTS = frozenset(
    {"start", "start_time", "start_at", "starts_at", "start_date", "start_on", "begins_at"}
)


def _interval_starts(relation: RawRelation) -> list[str]:
    return [c.name for c in relation.columns if snake_case(c.name) in _INTERVAL_STARTS]


def _bridge(relation: RawRelation, entities: frozenset[str]) -> tuple[str, ...]:
    """The foreign keys of a table joining two or three others (`task_id`, `user_id`), else ()."""
    parents = [p for p in _parents(relation, entities) if snake_case(p)[: -len("_id")] in entities]
    return (
        tuple(sorted(parents, key=[c.name for c in relation.columns].index)) if 2 <= len(parents) <= 3 else ()
    )


def _discriminators(relation: RawRelation, parent: str) -> list[str]:
    """Columns that may tell one parent's rows apart: `key`, `name`, `code`, or the value of a list.

    A list a parent owns holds its value in a column named as the table (`domain_name` in `domain_name`),
    as the table without the parent's name (`tag` in `organization_tag`) or as the table's last word.
    """
    by_snake = {snake_case(c.name): c.name for c in relation.columns if not is_metadata(c.name)}
    entity = entity_of(relation)
    owner = snake_case(parent)[: -len("_id")]
    values = [entity, entity.removeprefix(f"{owner}_"), entity.rsplit("_", 1)[-1]]
    wanted = [*_DISCRIMINATORS, *(v for v in values if not v.endswith("_id") and v != "id")]
    # `field_name`, `metric_key`, `currency_code`: a name, key or code of something else is one too.
    wanted += [n for n in by_snake if n.endswith(tuple(f"_{d}" for d in _DISCRIMINATORS))]
    return [by_snake[d] for d in dict.fromkeys(wanted) if d in by_snake and by_snake[d] != parent]


def _payload(relation: RawRelation) -> tuple[str, ...]:
    """Every column but the loader's bookkeeping: rows equal on these are copies of one row."""
    return tuple(c.name for c in relation.columns if not is_metadata(c.name))


def _history_keys(relation: RawRelation, parent: str) -> list[tuple[str, ...]]:
    """A parent's rows keyed on their version: `<parent>_id` (with an ordinal or discriminator) and a date."""
    changes = [
        c.name
        for c in relation.columns
        if not is_metadata(c.name) and ((n := snake_case(c.name)) in _CHANGES or n.endswith("_updated_at"))
    ]
    middles = [(), *((o,) for o in _ordinals(relation) + _discriminators(relation, parent) if o != parent)]
    return [(parent, *middle, change) for middle in middles for change in changes if change != parent]


def _history_key_holds(relation: RawRelation, column: str, versions: tuple[str, ...]) -> bool:
    """A repeated id is a history's key only when the data shows one row per (id, version), the id takes more
    than one value (a constant "id" repeated on every row names no entity: keeping its latest row would keep
    one row of the table), and the version is the table's own when it has one: a loader's sync time orders
    syncs, not versions, so it dates versions only where nothing else can."""
    profile = relation.profile
    stats = relation.column(column)
    if profile is None or stats is None or stats.profile is None:
        return False
    if stats.profile.distinct_count is not None and stats.profile.distinct_count <= 1 < profile.row_count:
        return False
    ordering = [v for v in versions if v.lower() != "_fivetran_active"]
    own = {c.name.lower() for c in relation.columns} & set(_VERSIONS) - {"_fivetran_synced"}
    if [v.lower() for v in ordering] == ["_fivetran_synced"] and own:
        return False
    return _unique(relation, (column, *versions)) is True


def composite_candidates(
    relation: RawRelation, entities: frozenset[str] = frozenset()
) -> list[tuple[str, ...]]:
    """The column combinations `table_key` would take if the data shows them unique (checked by a query)."""
    # A history's row: its id with the version columns (`id`, `_fivetran_synced`), checked first.
    versions = _versions(relation)
    candidates: list[tuple[str, ...]] = [(c, *versions) for c in _single_candidates(relation) if versions]
    candidates += [(c, start) for c in _single_candidates(relation) for start in _interval_starts(relation)]
    parents = _parents(relation, entities)
    for parent in parents:
        discriminators = _discriminators(relation, parent)
        candidates += [(parent, other) for other in _ordinals(relation) + discriminators if other != parent]
    bridge = _bridge(relation, entities)
    if bridge:
        candidates.append(bridge)
    payload = _payload(relation)
    if len(payload) > 2:
        candidates.append(payload)
    for parent in parents:
        candidates += _history_keys(relation, parent)
    # Each is a scan of the table: the most likely first, and no more than a bounded number of them.
    return [c for c in dict.fromkeys(candidates) if len(c) > 1][:MAX_COMBINATIONS]


def table_key(relation: RawRelation, entities: frozenset[str] = frozenset()) -> TableKey:
    """The key: declared, else a name-given key the data confirms (or cannot refute), else a composite.

    `entities` are the schema's tables (`entity_of`), which tell a bridge table's foreign keys apart.
    Composites: `<parent>_id` with an ordinal (`index`, `position`, ...) or, shown unique on the data, with a
    discriminator (`key`, `name`, `code`, `field_name`, the value of a list: `domain_name`, `tag`); a bridge's
    foreign keys; a single `<parent>_id` the data shows unique in a table that is no bridge. An id repeated
    on the data next to a version column (or, without data, next to validity columns: `_fivetran_start`, `valid_to`) is a
    history table: keyed on the id after keeping the latest version. Last, on the data only: a parent's
    list whose repeated rows are copies (a tag twice on one ticket) is keyed on (`<parent>_id`, value) after
    keeping one copy; a parent's history of changes is keyed on its version (`ticket_id`, `field_name`,
    `updated`). An id repeated once per interval of its entity, with no version, is keyed on (id, the interval's
    start: `start_time`) when the data shows the pair unique.
    """
    if relation.primary_key:
        return TableKey(tuple(relation.primary_key), "declared")
    versions = _versions(relation)
    names = {c.name.lower() for c in relation.columns}

    def unique(columns: tuple[str, ...]) -> bool | None:
        return _unique(relation, columns)

    for column in _single_candidates(relation):
        verdict = unique((column,))
        if verdict is False and versions and _nulls(relation, column) == 0:
            if _history_key_holds(relation, column, versions):
                return TableKey((column,), "data", versions)
            continue
        if verdict is not False:
            history = versions if names & _HISTORY_MARKERS else ()
            return TableKey((column,), "data" if verdict else "names", history)
    # An id repeated once per interval of its entity (no version: the rows are all current), shown on the data.
    for column in _single_candidates(relation):
        for start in _interval_starts(relation):
            if unique((column, start)):
                return TableKey((column, start), "data")
    ordinals = _ordinals(relation)
    parents = _parents(relation, entities)
    for parent in parents:
        for other in ordinals:
            verdict = unique((parent, other))
            if verdict is not False and other != parent:
                return TableKey((parent, other), "data" if verdict else "names")
    bridge = _bridge(relation, entities)
    if bridge and unique(bridge) is not False:
        return TableKey(bridge, "data" if unique(bridge) else "names")
    for parent in parents:
        for other in _discriminators(relation, parent):
            if unique((parent, other)):
                return TableKey((parent, other), "data")
    unique_parents = [p for p in parents if unique((p,))]
    if unique_parents and not bridge:
        return TableKey((unique_parents[0],), "data")
    payload = _payload(relation)
    for parent in parents:
        pairs = [(parent, other) for other in _discriminators(relation, parent)]
        for candidate in pairs + _history_keys(relation, parent):
            if unique(candidate):
                return TableKey(candidate, "data")
            if versions and _copies_only(relation, candidate, payload):
                return TableKey(candidate, "data", versions)  # repeated rows are copies: staging keeps one
    return TableKey()


def refuted_guess(relation: RawRelation, entities: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The key the names give (`id`, `<entity>_id`, a parent with an ordinal, a bridge's ids) when the data
    contradicts it (repeated or null values), else (); only asked where `table_key` found no key."""
    guesses: list[tuple[str, ...]] = [(c,) for c in _single_candidates(relation)]
    guesses += [(p, o) for p in _parents(relation, entities) for o in _ordinals(relation) if o != p]
    guesses += [bridge] if (bridge := _bridge(relation, entities)) else []
    return next((g for g in guesses if _unique(relation, g) is False), ())


def row_key_verdict(relation: RawRelation, columns: tuple[str, ...]) -> bool | None:
    """Whether these columns are unique and never null on the data; None when the profile cannot tell."""
    return _unique(relation, columns)


def copies_only(relation: RawRelation, columns: tuple[str, ...]) -> bool:
    """The rows repeating these columns' values are copies of one row (equal but for the loader's columns)."""
    return _copies_only(relation, columns, _payload(relation))


def _copies_only(relation: RawRelation, pair: tuple[str, ...], payload: tuple[str, ...]) -> bool:
    """The pair is never null and the rows sharing its values agree on every column but the loader's."""
    if any(_nulls(relation, c) != 0 for c in pair) or relation.profile is None:
        return False
    if set(payload) == set(pair):
        return True
    pairs = relation.profile.combination_count(pair)
    return pairs is not None and pairs == relation.profile.combination_count(payload)


def primary_key(relation: RawRelation, entities: frozenset[str] = frozenset()) -> str | None:
    """The single-column primary key (declared, confirmed by the data, or by name); None when unclear."""
    key = table_key(relation, entities)
    return key.columns[0] if len(key.columns) == 1 else None


def _type_family(data_type: str) -> str:
    """`number` or `text` (types that compare without a cast), or the type itself for anything else."""
    family = type_family(data_type)
    return family if family in ("number", "text") else data_type.strip().lower()


# Documents and collections: equal type names, but no equality a key could rest on (json = json fails on PostgreSQL).
_UNCOMPARABLE_TYPE = re.compile(
    r"json|jsonb|xml|array|struct|map|variant|object|record|geography|geometry|\[\]"
)


def _uncomparable(column: RawColumn, key: RawColumn) -> bool:
    """A document or collection on either side: no equality a key could rest on."""
    return any(_UNCOMPARABLE_TYPE.search(c.data_type.lower()) for c in (column, key))


def _comparable(column: RawColumn, key: RawColumn) -> bool:
    """Whether a column may be checked against a key: the same family, and a type with an equality."""
    return not _uncomparable(column, key) and _type_family(column.data_type) == _type_family(key.data_type)


def role_target(name: str, entities: Collection[str], own: str) -> tuple[str, str] | None:
    """(entity, role) a role-named key column points at, or None.

    `billing_customer_id` → (`customer`, `billing`): the longest suffix of the name before `_id` that is an
    entity of the schema, the words before it being the role; `parent_id` → (the table's own entity,
    `parent`); a name shortened to the last words of exactly one other entity, with no role: `variant_id` →
    (`product_variant`, ``), `checkout_id` → (`abandoned_checkout`, ``). A plain `<entity>_id` is no role
    name (the name alone makes that edge).
    """
    name = snake_case(name)
    if name in entities and name != own:
        # A column named bare after another table (`transaction`, `account` on a NetSuite-like schema): a
        # reference by the entity's name alone, taken like a role name only when the data holds it.
        return name, ""
    if not name.endswith("_id") or name == "id":
        return None
    stem = name[: -len("_id")]
    if stem in entities or stem == own:
        return None
    if stem in _SELF_ROLES:
        return own, stem
    words = stem.split("_")
    for cut in range(1, len(words)):
        entity, role = "_".join(words[cut:]), "_".join(words[:cut])
        if entity in entities and role:
            return entity, role
    shortened = [e for e in entities if e.endswith(f"_{stem}") and e != own]
    return (shortened[0], "") if len(shortened) == 1 else None


def role_candidates(relations: list[RawRelation]) -> list[KeyEdge]:
    """Foreign keys a role or shortened name suggests (`billing_customer_id` → `customer`, `parent_id` → its
    own table, `variant_id` → `product_variant`).

    Each points at its parent's single-column key, from a column of a comparable type that is neither the
    child's own key nor declared to point elsewhere. The name is not enough: `foreign_keys` takes one only
    when the data shows the parent's key holding the column's values (`cartridge.contained_values`).
    """
    by_identifier = {r.identifier: r for r in relations}
    tracked = entities_by_table(relations)
    by_entity = {e: by_identifier[i] for i, e in tracked.items()}
    entities = frozenset(by_entity)
    # Keys are found with the tables' own entities, as `key_facts.schema_keys` finds them.
    named = frozenset(entity_of(r) for r in relations)
    keys = {r.identifier: primary_key(r, named) for r in relations}
    candidates = []
    for child in relations:
        declared = {column for key in child.foreign_keys for column in key.columns}
        own = tracked[child.identifier]
        for column in child.columns:
            if column.name == keys[child.identifier] or column.name in declared or is_metadata(column.name):
                continue
            target = role_target(column.name, entities, own)
            if target is None:
                continue
            entity, role = target
            parent = child if entity == own else by_entity[entity]
            parent_key = keys[parent.identifier]
            key_column = parent.column(parent_key) if parent_key is not None else None
            if parent_key is not None and key_column is not None and _comparable(column, key_column):
                candidates.append(
                    KeyEdge(child.identifier, column.name, parent.identifier, parent_key, False, role)
                )
    return candidates


def _counts(child: RawRelation, edge: KeyEdge) -> ContainedValues | None:
    """How many of the column's distinct values the parent's key holds, when `cartridge.contained_values` counted it."""
    return child.profile.contained(edge.column, edge.parent, edge.parent_column) if child.profile else None


def _holds(counts: ContainedValues | None) -> bool:
    """At least `CONTAINED_MIN_DISTINCT` distinct values, and `CONTAINED_SHARE` of them in the parent's key."""
    return (
        counts is not None
        and counts.distinct_count >= CONTAINED_MIN_DISTINCT
        and counts.contained_count >= CONTAINED_SHARE * counts.distinct_count
    )


def _contained(child: RawRelation, edge: KeyEdge) -> bool:
    """The data holds the edge: at least `CONTAINED_SHARE` of the column's distinct non-null values are keys."""
    return _holds(_counts(child, edge))


def edge_evidence(child: RawRelation, edge: KeyEdge) -> EdgeEvidence:
    """How a foreign key is known: `declared`; `checked` (`cartridge.contained_values` counted at least
    `CONTAINED_MIN_DISTINCT` distinct values, `CONTAINED_SHARE` of them in the parent's key); `refuted` (counted,
    and fewer of them held: a missing value is missing however few were counted); else `named` (not counted,
    or every value held but too few of them to tell)."""
    if edge.declared:
        return "declared"
    counts = _counts(child, edge)
    if _holds(counts):
        return "checked"
    return "refuted" if counts is not None and counts.contained_count < counts.distinct_count else "named"


def missing_values(child: RawRelation, edge: KeyEdge) -> tuple[int, int] | None:
    """(distinct values, how many the parent's key holds) when the data counted some values the parent lacks."""
    counts = None if edge.declared else _counts(child, edge)
    if counts is None or counts.contained_count >= counts.distinct_count:
        return None
    return counts.distinct_count, counts.contained_count


def missing_keys_note(column: str, parent: str, counts: tuple[int, int]) -> str:
    """`3 of 4 distinct values of account_id are not keys of stg_account in the raw data (...)`: a relationships
    test's note when the data's counts refute (or nearly confirm) its foreign key."""
    distinct, held = counts
    return (
        f"{distinct - held} of {distinct} distinct values of {column} are not keys of {parent} in the raw data "
        "(counted before staging's filters); planned at warn: restore severity error once the data holds them"
    )


def narrows(column: RawColumn, key: RawColumn) -> bool:
    """Whether comparing `column` with `key` needs a cast that a value could fail: to any type but text.

    Anything converts to text, so an integer pointing at a text key is cast up safely; a text column
    pointing at an integer key (`tax_rate_id` holding `tax_rate_NY`) is not, unless the data shows it.
    """
    return _type_family(column.data_type) != _type_family(key.data_type) and not is_text(key.data_type)


def _converts(child: RawRelation, edge: KeyEdge) -> bool:
    """The data shows every distinct non-null value of the column among the key's (compared as text)."""
    counts = _counts(child, edge)
    return counts is not None and 0 < counts.distinct_count == counts.contained_count


def _named_edges(relations: list[RawRelation]) -> list[tuple[KeyEdge, RawColumn, RawColumn]]:
    """Edges `<entity>_id` columns make by name, each with its column and the parent's key column."""
    by_identifier = {r.identifier: r for r in relations}
    by_entity = {e: by_identifier[i] for i, e in entities_by_table(relations).items()}
    # Keys are found with the tables' own entities, as `key_facts.schema_keys` finds them.
    entities = frozenset(entity_of(r) for r in relations)
    edges = []
    for child in relations:
        declared = {column for key in child.foreign_keys for column in key.columns}
        own_key = primary_key(child, entities)
        for column in child.columns:
            name = snake_case(column.name)
            if column.name == own_key or column.name in declared or not name.endswith("_id"):
                continue
            parent = by_entity.get(name[: -len("_id")])
            if parent is None or parent.identifier == child.identifier:
                continue
            parent_key = primary_key(parent, entities)
            key_column = parent.column(parent_key) if parent_key is not None else None
            if parent_key is None or key_column is None or _uncomparable(column, key_column):
                continue
            edge = KeyEdge(child.identifier, column.name, parent.identifier, parent_key, False)
            edges.append((edge, column, key_column))
    return edges


def containment_candidates(relations: list[RawRelation]) -> list[tuple[KeyEdge, bool]]:
    """Every foreign key a name suggests, to count on the data (`cartridge.contained_values`), each with whether
    its two columns compare as text (two type families: text never fails).

    Role-named ones are taken only if the counts hold them; `<entity>_id` ones are taken anyway, and the counts
    say whether they are `checked` or `refuted` and whether a column narrowed to its key's type converts.
    """
    found = [(edge, False) for edge in role_candidates(relations)]
    found += [
        (edge, _type_family(column.data_type) != _type_family(key.data_type))
        for edge, column, key in _named_edges(relations)
    ]
    return found


def foreign_keys(relations: list[RawRelation]) -> list[KeyEdge]:
    """Declared foreign keys within these relations, `<entity>_id` columns that name another table, and
    role-named or shortened columns (`billing_customer_id`, `parent_id`, `variant_id`) whose values the data
    shows in the parent's key.

    A named column of another type than its key is taken when a cast to the key's type cannot fail: the key
    is text, or the data shows every value of the column among the key's. Otherwise the column stays what it
    is, unjoined: a cast that fails on one value would take the whole build down.
    """
    by_identifier = {r.identifier: r for r in relations}
    named = [
        edge
        for edge, column, key in _named_edges(relations)
        if not narrows(column, key) or _converts(by_identifier[edge.child], edge)
    ]
    edges: list[KeyEdge] = []
    for child in relations:
        for key in child.foreign_keys:
            # The warehouse said where these columns point; never second-guess it from their names.
            parent = by_identifier.get(key.ref_identifier)
            if len(key.columns) == 1 and parent is not None and key.ref_schema == child.schema_:
                edges.append(
                    KeyEdge(child.identifier, key.columns[0], parent.identifier, key.ref_columns[0], True)
                )
        edges += [edge for edge in named if edge.child == child.identifier]
    edges += [e for e in role_candidates(relations) if _contained(by_identifier[e.child], e)]
    return edges
