"""Brownfield mart rules: new facts join the existing models that own their keys, and new measures reach an
existing mart's grain through new models only (the user's SQL is never edited)."""

from __future__ import annotations

from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.naming import cte_name, needs_quoting, plural
from cartridge_bridge.planning.plan import ColumnSpec, DataTest, JoinCondition, MartJoin, MartSpec
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules.aggregates import AggregateRules
from cartridge_bridge.planning.rules.mart_shapes import Shapes
from cartridge_bridge.planning.rules.state import Staged

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
        """New measures at an existing mart's grain, through new models: an aggregate and a mart over both."""
        by_owner: dict[str, list[tuple[Staged, str]]] = {}
        owners: dict[str, KeyOwner] = {}
        for (identifier, key), owner in sorted(self.external.items()):
            if owner.mart is None or identifier not in shapes.marts:
                continue
            by_owner.setdefault(owner.mart, []).append((staged[identifier], key))
            owners[owner.mart] = owner
        for mart, children in by_owner.items():
            owner = owners[mart]
            entity = owner.key.removesuffix("_id")
            aggregates = []
            for child, key in children:
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
                aggregate = self.aggregate(model, child, key, owner.key, "", entity)
                self.add_aggregate(aggregate, entity, mart)
                aggregates.append(aggregate)
            name = self.fit(
                f"{mart}_with_{children[0][0].table}" if len(children) == 1 else f"{mart}_enriched"
            )
            if not aggregates or name in self.context.existing_models:
                continue
            alias = cte_name(self.fit(f"existing_{mart}"))
            known = [c for c in owner.columns.get(mart, []) if not needs_quoting(c)]
            own = [owner.key, *(c for c in known if c != owner.key)]
            key_tests = (
                [DataTest(name="unique"), DataTest(name="not_null")]
                if self.conventions.test_primary_keys
                else []
            )
            columns = [
                self.joined_column(c, c, alias, mart, entity).model_copy(
                    update={"tests": key_tests if c == owner.key else []}
                )
                for c in own
            ]
            spec = MartSpec(
                role="fact" if mart.startswith("fct") else "dimension",
                base_model=mart,
                base_alias=alias,
                grain=[owner.key],
                columns=columns,
                joins=self.aggregate_joins(alias, aggregates, set(own)),
            )
            description = docs.describe_extension(mart, entity, [a.child.table for a in aggregates])
            self.add(name, "marts", description, spec)
