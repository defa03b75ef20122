"""Mart rules: a handful of marts at business grain, fed by their children's aggregates.

Which tables become marts is `mart_shapes`; which columns are measures is `measures`; the intermediates
are `aggregates`; joins to and extensions of existing marts are `existing_marts`.
"""

from __future__ import annotations

from cartridge_bridge.context.keys import KeyEdge, entity_of, history_stem
from cartridge_bridge.planning.plan import ColumnSpec, DataTest, JoinCondition, MartJoin, MartSpec
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures, semantic
from cartridge_bridge.planning.rules.adjusted_totals import adjusted_total
from cartridge_bridge.planning.rules.aggregates import Aggregate
from cartridge_bridge.planning.rules.existing_marts import ExistingMartRules
from cartridge_bridge.planning.rules.extensions import durations, extension_columns, extensions
from cartridge_bridge.planning.rules.incremental import is_large, make_incremental
from cartridge_bridge.planning.rules.mart_shapes import Shapes, mart_shapes
from cartridge_bridge.planning.rules.owners import Owner, owner_of, sequence_columns
from cartridge_bridge.planning.rules.rollups import RollupRules
from cartridge_bridge.planning.rules.snapshots import business_time, daily_snapshot, running_snapshot
from cartridge_bridge.planning.rules.state import Staged
from cartridge_bridge.sql.naming import cte_name, dedupe


def _tracks(history: Staged, table: Staged, edges: list[KeyEdge]) -> bool:
    """Whether a history keeps the versions of this table: named after it (`<table>_history`), or pointing at it."""
    named = history_stem(entity_of(history.relation)) in (table.table, table.entity)
    identifiers = (history.relation.identifier, table.relation.identifier)
    return named or any((e.child, e.parent) == identifiers for e in edges)


def _not_counted_twice(
    links: list[KeyEdge], staged: dict[str, Staged], edges: list[KeyEdge], histories: set[str]
) -> list[KeyEdge]:
    """The links but a history's to a parent that already counts the current-state table it tracks
    (a customer counts its subscriptions once, not again through `subscription_history`)."""
    counted = {(e.child, e.parent) for e in links}
    return [
        e
        for e in links
        if e.child not in histories
        or not any(
            (t, e.parent) in counted and t != e.child and _tracks(staged[e.child], staged[t], edges)
            for t in staged
        )
    ]


# Fewer tables than this: a star of a fact or two and their dimensions, each table a mart if the rules make it one.
_FEW_TABLES = 6


def _to_mart(staged_tests: list[DataTest], mart: str, key: str) -> DataTest:
    """A mart's foreign key tested against the mart holding the key: at the staging test's severity and note
    (values the parent lacks already warn there), else as a plain test."""
    staged = next((t for t in staged_tests if t.name == "relationships"), None)
    test = staged.model_copy() if staged is not None else DataTest(name="relationships")
    return test.model_copy(update={"to": mart, "field": key})


class MartRules(ExistingMartRules, RollupRules):
    """Marts at business grain for one schema, and the aggregates they read."""

    crossed_measures = True  # see `RulesPlanner`
    rollups = True
    owner_sequences = True

    def choose_shapes(self, staged: dict[str, Staged], edges: list[KeyEdge]) -> tuple[Shapes, int | None]:
        """Which staged tables become marts, each a fact or a dimension, and the mart budget (None: no limit)."""
        external = self.external_marts()
        # Few marts, each worth keeping: at most one for every two tables of the schema, type-2 histories and daily
        # snapshots included (they take what the marts leave). A schema of a few tables is one star already.
        budget = len(staged) // 2 if len(staged) >= _FEW_TABLES else None
        shapes = mart_shapes(staged, edges, external, budget)
        running = sum(
            running_snapshot(staged[i], i, i, owner.column, owner.entity) is not None
            for i, role in shapes.marts.items()
            if role == "fact" and (owner := owner_of(staged, edges, i, set(shapes.marts))) is not None
        )
        if budget is not None and running:
            # Running totals take a place in the budget (at most a quarter of it) before the marts fill it.
            shapes = mart_shapes(staged, edges, external, budget - min(running, max(1, budget // 4)))
        return shapes, budget

    def plan_marts(self, staged: dict[str, Staged], edges: list[KeyEdge]) -> None:
        """Choose the marts, plan the aggregates they need, then the marts and brownfield extensions."""
        shapes, budget = self.choose_shapes(staged, edges)
        names = self.mart_names(staged, shapes)
        links = _not_counted_twice(
            [e for e in edges if e.parent in shapes.marts and e.child != e.parent],
            staged,
            edges,
            shapes.histories,
        )
        aggregates = self.plan_aggregates(staged, links, names, shapes.bridges)
        # The marts a mart's foreign key may be tested against, when the project tests its marts' keys so.
        self.mart_targets = set(names.values()) | {
            owner.mart for owner in self.context.existing_keys.values() if owner.mart
        }
        extended = extensions(staged, shapes, edges)
        for identifier, role in shapes.marts.items():
            mine = [a for e, a in aggregates.items() if e.parent == identifier]
            parents = self.parent_models(staged, edges, identifier, names)
            owner = owner_of(staged, edges, identifier, set(shapes.marts)) if role == "fact" else None
            self.plan_mart(
                staged[identifier],
                role,
                names[identifier],
                mine,
                parents,
                extended.get(identifier, []),
                owner,
            )
        left = None if budget is None else budget - len(shapes.marts)
        # A fact's running totals per its owner first: they answer "as of each month-end", which no mart can.
        for identifier, role in shapes.marts.items():
            owner = owner_of(staged, edges, identifier, set(shapes.marts)) if role == "fact" else None
            room = left is None or left > 0
            if (
                owner is not None
                and room
                and self.plan_running_snapshot(staged[identifier], names[identifier], owner)
            ):
                left = None if left is None else left - 1
        left = self.plan_type2(staged, edges, shapes, left)
        for identifier, role in shapes.marts.items():
            if (left is None or left > 0) and self.plan_snapshot(staged[identifier], role, names[identifier]):
                left = None if left is None else left - 1
        if self.rollups:
            self.plan_rollups(staged, links, names, aggregates)
        self.plan_extensions(staged, shapes)

    def plan_type2(
        self, staged: dict[str, Staged], edges: list[KeyEdge], shapes: Shapes, room: int | None
    ) -> int | None:
        """The type-2 marts of the version histories that earn a place, at most `room` of them (None: no bound); the
        room left.

        First a history kept beside its entity's current table (`account_history` beside `account`): the marts read
        the current table, and only this mart shows the versions. Then an entity whose current state is a mart and
        that dated rows point at: their time needs the version of its day (an as-of join), which the current state
        cannot give. Then an entity with no mart at all (nothing points at it): its one mart is the type-2 one, its
        current state `is_current`. Last an entity whose only table is its history (`contact_history`): its current
        state is a mart already, and its versions are what the loader kept it for. Any other entity whose
        current-state mart nothing dated points at needs no second mart of itself: its versions stay in the history
        model for whoever asks.
        """
        timed = {
            i
            for i, s in staged.items()
            if measures.event_time(s.relation, s.spec.columns, by_name=True) is not None
        }

        def rank(identifier: str) -> int | None:
            if identifier in shapes.histories:
                return 0
            if identifier not in shapes.marts:
                return 2
            pointed = any(
                e.parent == identifier and e.child != identifier and e.child in timed for e in edges
            )
            # The entity's only table (`contact_history`): its versions beside its current state, when room is left.
            return 1 if pointed else 3 if staged[identifier].entity_history else None

        ranked = sorted((r, n, i) for n, i in enumerate(self.type2_marts) if (r := rank(i)) is not None)
        chosen = [self.type2_marts[i] for _, _, i in ranked][: None if room is None else max(room, 0)]
        self.draft.models += chosen
        return None if room is None else room - len(chosen)

    def plan_snapshot(self, table: Staged, role: str, fact: str) -> bool:
        """A money-moving fact's daily snapshot (see `snapshots`), unless the project has a model of its name;
        whether it was planned."""
        name = self.fit(f"{fact}_daily")
        snapshot = daily_snapshot(table, fact, name) if role == "fact" else None
        if snapshot is not None and name not in self.context.existing_models:
            self.draft.snapshots.append(snapshot)
            return True
        return False

    def plan_running_snapshot(self, table: Staged, fact: str, owner: Owner) -> bool:
        """A money-moving fact's monthly running totals per its owner (see `snapshots`), unless the project has
        a model of its name; whether it was planned."""
        name = self.fit(f"{fact}_monthly_by_{owner.entity}")
        snapshot = running_snapshot(table, fact, name, owner.column, owner.entity)
        if snapshot is not None and name not in self.context.existing_models:
            self.draft.snapshots.append(snapshot)
            return True
        return False

    def mart_names(self, staged: dict[str, Staged], shapes: Shapes) -> dict[str, str]:
        """Each mart's model name, from the project's convention for its role."""
        wanted = [
            self.owned_name(
                "fact_model" if role == "fact" else "dimension_model",
                # The current state of `contact_history`, the contacts' only table, is `dim_contact`.
                table=staged[identifier].noun,
                source=staged[identifier].spec.source_name,
            )
            for identifier, role in shapes.marts.items()
        ]
        return dict(zip(shapes.marts, [self.fit(n) for n in dedupe(wanted)], strict=True))

    def parent_models(
        self,
        staged: dict[str, Staged],
        edges: list[KeyEdge],
        identifier: str,
        names: dict[str, str],
    ) -> dict[str, tuple[str, str]]:
        """A mart's foreign key columns → (the model they point at, its entity): a mart when there is one."""
        table = staged[identifier]
        pointed: dict[str, tuple[str, str]] = {}
        for edge in edges:
            if edge.child == identifier and edge.parent != identifier:
                parent = staged[edge.parent]
                pointed[table.renamed[edge.column]] = (names.get(edge.parent, parent.model), parent.entity)
        for (child, column), owner in self.external.items():
            target = owner.mart or owner.staging
            if child == identifier and target is not None:
                pointed[column] = (target, column.removesuffix("_id"))
        return pointed

    def base_columns(
        self, table: Staged, alias: str, parents: dict[str, tuple[str, str]]
    ) -> list[ColumnSpec]:
        """A mart's own columns: the staged ones but loader metadata, key tests kept; relationships to the mart
        that holds the key where the project tests its marts' foreign keys so, else none (staging tests them)."""
        columns = []
        for column in table.spec.columns:
            if measures.is_loader_column(column):
                continue
            description, doc = column.description, column.description_doc
            tests = [t.model_copy() for t in column.tests if t.name != "relationships"]
            if column.name in parents:
                target, parent_entity = parents[column.name]
                # An existing model's key is described through its own docs; a planned one's by its role.
                text, doc = docs.inherited(self.context.existing, [target], column.name)
                description = (
                    docs.describe_existing_foreign_key(table.entity, parent_entity, text)
                    if text or doc
                    else docs.describe_foreign_key(table.entity, parent_entity, target)
                )
                if self.conventions.test_mart_relationships and target in self.mart_targets:
                    tests.append(_to_mart(column.tests, target, column.name))
            columns.append(
                ColumnSpec(
                    name=column.name,
                    expression=f"{alias}.{column.name}",
                    data_type=column.data_type,
                    description=description,
                    description_doc=doc,
                    tests=tests,
                )
            )
        return columns

    def plan_mart(
        self,
        table: Staged,
        role: str,
        name: str,
        aggregates: list[Aggregate],
        parents: dict[str, tuple[str, str]],
        extended: list[Staged] | None = None,
        owner: Owner | None = None,
    ) -> None:
        """A dimension or fact: the staged table, existing models it points at, its children's aggregates, the
        columns of the tables that extend it one-to-one (see `extensions`), and its rows' number among their
        owner's (see `owners`)."""
        alias = cte_name(table.table)
        columns = self.base_columns(table, alias, parents)
        own_joins, added = self.extension_joins(table, alias, extended or [], {c.name for c in columns})
        # The lifecycle's durations read the row's own timestamps, the extensions' included (created → merged).
        references = {c.name: c.expression or "" for c in [*columns, *added]}
        start = measures.event_time(table.relation, table.spec.columns)
        staged_columns = {c.name: c for c in table.spec.columns} | {
            c.name: c for e in extended or [] for c in extension_columns(e)
        }
        lifecycle = [staged_columns[c.name] for c in [*columns, *added] if c.name in staged_columns]
        columns += added
        names = {c.name for c in columns}
        columns += [
            d
            for d in durations(start, lifecycle, references, self.context.adapter_type)
            if d.name not in names
        ]
        names = {c.name for c in columns}
        for derived in (
            measures.extended(table.relation, table.spec.columns),
            measures.unpaid(table.relation, table.spec.columns),
        ):
            if derived is None or derived.name in names:
                continue
            # What a line sells for, what an invoice still asks: per row, so the mart's readers sum it without
            # arithmetic of their own.
            columns.append(
                ColumnSpec(
                    name=derived.name,
                    expression=f"{alias}.{derived.left} {derived.operator} {alias}.{derived.right}",
                    description=derived.says.replace("{entity}", docs.words(table.entity))
                    + " (null when either is).",
                )
            )
        time = business_time(table, table.spec.columns)
        names = {c.name for c in columns}
        # A window reads the mart's other rows, which an incremental run does not hold.
        if self.owner_sequences and owner and time and not is_large(table, self.context):
            columns += sequence_columns(table, alias, owner, time, names)
        joins = own_joins + self.existing_joins(table, alias, {c.name for c in columns})
        taken = {c.name for c in columns} | {c.name for j in joins for c in j.columns}
        aggregated = self.aggregate_joins(alias, aggregates, taken)
        joins += aggregated
        adjusted = adjusted_total(
            table, alias, aggregates, aggregated, taken | {c.name for j in aggregated for c in j.columns}
        )
        if adjusted is not None:
            columns.append(adjusted)
        expressions = [m.computed() or "" for a in aggregates for m in a.measures]
        description = docs.describe_mart(
            role,
            table.entity,
            [a.child.table for a in aggregates],
            sorted({entity for _, entity in parents.values()}),
            totals=any(e.startswith("sum(") for e in expressions),
            dated=any(e.startswith("min(") for e in expressions),
        )
        spec = MartSpec(
            role=role,  # type: ignore[arg-type]
            base_model=table.model,
            base_alias=alias,
            grain=list(table.spec.grain),
            columns=columns,
            joins=joins,
        )
        times = semantic.first_last_times(
            aggregated, {a.model: (a.measures, a.child.spec.columns) for a in aggregates}
        )
        base = semantic.base_of(spec, table.spec, table.relation, table.entity)
        described = semantic.semantic_model(
            name, base, spec, parents, times, self.context.adapter_type if self.crossed_measures else None
        )
        self.add(name, "marts", description, spec, [t.model_copy() for t in table.model_tests], described)
        make_incremental(self.draft.models[-1], table, self.context)

    def extension_joins(
        self, table: Staged, alias: str, extended: list[Staged], taken: set[str]
    ) -> tuple[list[MartJoin], list[ColumnSpec]]:
        """Left joins of the tables extending a mart's rows on its key, and their columns as the mart's own (a
        name the mart has already takes the extension's table before it: `issue_merged_actor_id`)."""
        joins: list[MartJoin] = []
        added: list[ColumnSpec] = []
        for extension in extended:
            join_alias = cte_name(self.fit(extension.table))
            if join_alias == alias or join_alias in {j.alias for j in joins}:
                continue
            own = extension_columns(extension)
            names = self.pick([[c.name, f"{extension.table}_{c.name}"] for c in own], taken)
            taken |= set(names)
            for column, name in zip(own, names, strict=True):
                added.append(
                    ColumnSpec(
                        name=name,
                        expression=f"{join_alias}.{column.name}",
                        data_type=column.data_type,
                        description=column.description
                        or f"`{column.name}` of the {docs.words(table.entity)}'s {docs.words(extension.table)} "
                        f"(from `{extension.model}`, one row per {docs.words(table.entity)}).",
                    )
                )
            key = extension.spec.grain[0]
            on = JoinCondition(left_alias=alias, left_column=table.spec.grain[0], right_column=key)
            joins.append(MartJoin(model=extension.model, alias=join_alias, on=[on], columns=[]))
        return joins, added
