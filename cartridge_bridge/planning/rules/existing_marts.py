"""Brownfield mart rules: new facts join the existing models that own their keys, and new measures reach an
existing mart's grain through new models only (the user's SQL is never edited)."""

from __future__ import annotations

from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.planning.plan import ColumnSpec, DataTest, InputJoin, JoinCondition, MartJoin, MartSpec
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules.aggregates import AggregateRules
from cartridge_bridge.planning.rules.mart_shapes import Shapes
from cartridge_bridge.planning.rules.state import Staged
from cartridge_bridge.sql.naming import cte_name, needs_quoting, plural

# Descriptive columns of an existing model worth carrying into a new fact that joins it.
_DESCRIPTIVE = ("name", "email", "title", "status", "type", "category", "segment", "country")
_MAX_DESCRIPTIVE = 4


class ExistingMartRules(AggregateRules):
    """Joins to and extensions of the project's existing marts."""

    def external_marts(self) -> dict[str, set[str]]:
        """Raw table → its staged columns that join an existing mart."""
        found: dict[str, set[str]] = {}
        for (identifier, column), owner in self.external.items():
            if owner.mart is not None:
                found.setdefault(identifier, set()).add(column)
        return found

    def existing_joins(self, table: Staged, alias: str, taken: set[str]) -> list[MartJoin]:
        """Joins to the existing models that own this table's keys, carrying a few of their descriptive columns."""
        joins = []
        for (identifier, key), owner in sorted(self.external.items()):
            target = owner.mart or owner.staging
            if identifier != table.relation.identifier or target is None:
                continue
            entity = key.removesuffix("_id")
            picked = []
            for column in self.descriptive(owner, target):
                name = column if column.startswith(f"{entity}_") else self.fit(f"{entity}_{column}")
                if name not in taken:
                    taken.add(name)
                    picked.append((name, column))
            if not picked:
                continue
            join_alias = cte_name(self.fit(f"existing_{target}"))
            joins.append(
                MartJoin(
                    model=target,
                    alias=join_alias,
                    on=[JoinCondition(left_alias=alias, left_column=key, right_column=key)],
                    columns=[
                        self.joined_column(name, column, join_alias, target, entity)
                        for name, column in picked
                    ],
                )
            )
        return joins

    def joined_column(self, name: str, column: str, alias: str, model: str, entity: str) -> ColumnSpec:
        """A column taken from an existing model, described as that model describes it (its lineage), else
        by where it comes from; a doc block stays a reference."""
        text, doc = docs.inherited(self.context.existing, [model], column)
        return ColumnSpec(
            name=name,
            expression=f"{alias}.{column}",
            description=text or ("" if doc else f"`{column}` of the {docs.words(entity)} (from `{model}`)."),
            description_doc=doc,
        )

    @staticmethod
    def descriptive(owner: KeyOwner, model: str) -> list[str]:
        """The existing model's columns that describe its entity (a name, an email, a status), as they exist."""
        columns = [c for c in owner.columns.get(model, []) if not needs_quoting(c)]
        found = [
            c
            for c in columns
            if c != owner.key
            and not c.endswith("_id")
            and not c.startswith("_")
            and any(word in c for word in _DESCRIPTIVE)
        ]
        return found[:_MAX_DESCRIPTIVE]

    def plan_extensions(self, staged: dict[str, Staged], shapes: Shapes) -> None:
        """New measures at an existing mart's grain, through new models: an aggregate per new table, and one narrow
        model at that grain (the mart's key and the new measures) documented as joining the mart on its key. The
        mart's own columns are never copied: two models answering one question would drift apart."""
        by_owner: dict[str, list[tuple[Staged, str, tuple[str, InputJoin] | None]]] = {}
        owners: dict[str, KeyOwner] = {}
        direct = {(i, o.mart) for (i, _), o in self.external.items() if o.mart is not None}
        for (identifier, key), owner in sorted(self.external.items()):
            if owner.mart is not None:
                if identifier in shapes.marts:
                    by_owner.setdefault(owner.mart, []).append((staged[identifier], key, None))
                    owners[owner.mart] = owner
                continue
            # A table whose key points at an existing staging model only (a refund at its payment) is no mart of
            # its own, but its rows still belong to the mart that staging model's rows point at.
            if identifier in shapes.bridges | shapes.histories or not staged[identifier].spec.grain:
                continue
            for mart_owner, through in self.through_existing_parent(staged[identifier], key, owner):
                assert mart_owner.mart is not None
                if (identifier, mart_owner.mart) not in direct:
                    direct.add((identifier, mart_owner.mart))
                    by_owner.setdefault(mart_owner.mart, []).append((staged[identifier], key, through))
                    owners[mart_owner.mart] = mart_owner
        for mart, children in by_owner.items():
            owner = owners[mart]
            entity = owner.key.removesuffix("_id")
            aggregates = []
            for child, key, via in children:
                model = self.fit(
                    self.conventions.fill(
                        "intermediate_model",
                        child=child.table,
                        parent=plural(entity),
                        source=child.spec.source_name,
                    )
                )
                if model in self.context.existing_models:
                    continue
                grouped = owner.key if via is not None else key
                aggregate = self.aggregate(model, child, grouped, owner.key, "", entity)
                aggregate.via = via
                self.add_aggregate(aggregate, entity, mart)
                aggregates.append(aggregate)
            name = self.fit(
                f"{mart}_with_{children[0][0].table}" if len(children) == 1 else f"{mart}_with_new_measures"
            )
            if not aggregates or name in self.context.existing_models:
                continue
            alias = cte_name(self.fit(f"existing_{mart}"))
            key_tests = (
                [DataTest(name="unique"), DataTest(name="not_null")]
                if self.conventions.test_primary_keys
                else []
            )
            # The mart is the base so that every one of its rows is here, those without new rows with zeros.
            key_column = self.joined_column(owner.key, owner.key, alias, mart, entity)
            spec = MartSpec(
                role="fact" if mart.startswith("fct") else "dimension",
                base_model=mart,
                base_alias=alias,
                grain=[owner.key],
                columns=[key_column.model_copy(update={"tests": key_tests})],
                joins=self.aggregate_joins(alias, aggregates, {owner.key}),
            )
            description = docs.describe_extension(
                mart, entity, owner.key, [a.child.table for a in aggregates]
            )
            self.add(name, "marts", description, spec)

    def through_existing_parent(
        self, child: Staged, key: str, owner: KeyOwner
    ) -> list[tuple[KeyOwner, tuple[str, InputJoin]]]:
        """The existing marts a new table reaches through the existing staging model its key points at (a refund
        through its payment to the payment's order), each with the join that brings the mart's key to the table's
        rows: many-to-one, on the staging model's key, which the project tests unique and not null."""
        parent = owner.staging
        facts = self.context.existing.get(parent) if parent is not None else None
        # Only on the grain the plan checks will hold the join to: the key the project tests on that model.
        if parent is None or facts is None or [g.lower() for g in facts.grain] != [owner.key]:
            return []
        own = {c.name for c in child.spec.columns}
        alias, parent_alias = cte_name(child.table), cte_name(self.fit(f"existing_{parent}"))
        reached = []
        for column in [c.name for c in facts.columns] or owner.columns.get(parent, []):
            grand = self.context.existing_keys.get(column)
            if (
                column == owner.key
                or column in own
                or needs_quoting(column)
                or grand is None
                or not grand.mart
            ):
                continue
            described = (
                f"The {docs.words(column.removesuffix('_id'))} of the {docs.words(child.entity)}'s "
                f"{docs.words(key.removesuffix('_id'))} (from `{parent}`)."
            )
            join = InputJoin(
                model=parent,
                alias=parent_alias,
                on=[JoinCondition(left_alias=alias, left_column=key, right_column=owner.key)],
                columns=[
                    ColumnSpec(name=column, expression=f"{parent_alias}.{column}", description=described)
                ],
            )
            reached.append((grand, (alias, join)))
        return reached
