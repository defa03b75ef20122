"""Roll-up rules: a grandchild's counts carried past its parent's mart to the grandparent's.

A review is counted on its pull request's mart; the issue a pull request belongs to (its parent, many-to-one)
is asked how many reviews its pull request got, and a repository (one more join away) how many pull requests
were reviewed. The grandparent's mart joins an intermediate that re-grains the child's mart to the grandparent's
key: the child's counts and sums summed, its first and last times taken at their extremes, and how many of the
children have any (a child with a first time has at least one). A distinct count does not add up across
children and is never rolled up; a grandchild that points at the grandparent itself is counted there already.
"""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.context.keys import KeyEdge
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    DataTest,
    JoinCondition,
    MartJoin,
    MartSpec,
    SemanticMeasure,
    SemanticMetric,
    SemanticModelSpec,
)
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.aggregates import Aggregate, AggregateRules
from cartridge_bridge.planning.rules.state import Staged
from cartridge_bridge.sql.naming import cte_name, plural


@dataclass(frozen=True)
class _Rolled:
    """One column of a child's mart and how it rolls up: `sum`, `min`, `max`, or `count` (children that have it)."""

    column: str
    function: str
    name: str
    description: str


def _rolled_columns(
    mart: str, spec: MartSpec, aggregates: list[Aggregate], child: Staged, parent_entity: str
) -> list[_Rolled]:
    """The child mart's columns that come from its own children's aggregates, each with how it rolls up and what
    it says at the parent's grain (the child's own description says what it is per child)."""
    found = []
    by_model = {a.model: a for a in aggregates}
    children = f"the {docs.words(parent_entity)}'s {docs.words(plural(child.noun))}"
    for join in spec.joins:
        aggregate = by_model.get(join.model)
        if aggregate is None:
            continue
        grandchildren = docs.words(plural(aggregate.child.noun))
        for measure, column in zip(aggregate.measures, join.columns, strict=True):
            computed = measure.computed() or ""
            said = column.description.rstrip(".")
            # A distinct count does not add up across children; a split per flag or value stays at the child's
            # grain (each value times each grandchild would bury the parent, and a value's name reads as a unit).
            if computed.startswith("count(distinct") or measure.name in aggregate.split:
                continue
            if computed.startswith(("count(", "sum(")):
                what = f"Summed over {children} (`{mart}`): {said}."
                found.append(_Rolled(column.name, "sum", column.name, what))
            elif computed.startswith(("min(", "max(")):
                extreme = "Earliest" if computed.startswith("min(") else "Latest"
                what = f"{extreme} over {children} (`{mart}`): {said}."
                found.append(_Rolled(column.name, computed[:3], column.name, what))
                if computed.startswith("min("):
                    # A child with a first time has at least one grandchild: counted, the children that have any.
                    found.append(
                        _Rolled(
                            column.name,
                            "count",
                            f"number_of_{plural(child.noun)}_with_{plural(aggregate.child.noun)}",
                            f"How many of {children} have {grandchildren} (`{mart}`).",
                        )
                    )
    return found


def _reaches(depends: dict[str, set[str]], start: str, goal: str) -> bool:
    """Whether `start` depends on `goal`, directly or through other models."""
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(depends.get(node, ()))
    return False


class RollupRules(AggregateRules):
    """Intermediates that re-grain a child's mart to its parent's key, and the parent marts' joins of them."""

    def plan_rollups(
        self,
        staged: dict[str, Staged],
        links: list[KeyEdge],
        names: dict[str, str],
        aggregates: dict[KeyEdge, Aggregate],
    ) -> None:
        """For each mart that is a child of another mart, its children's measures rolled up to the parent."""
        drafts = {d.name: d for d in self.draft.models}
        direct = {(e.child, e.parent) for e in links}
        # Which mart reads which (through its rollups): a rollup that would close a loop is left out.
        depends: dict[str, set[str]] = {}
        for edge in links:
            child, parent = edge.child, edge.parent
            if child not in names or parent not in names or child == parent:
                continue
            own = [a for e, a in aggregates.items() if e.parent == child]
            own = [a for a in own if (a.child.relation.identifier, parent) not in direct]
            mart, target = drafts.get(names[child]), drafts.get(names[parent])
            if not own or mart is None or target is None:
                continue
            if not isinstance(mart.spec, MartSpec) or not isinstance(target.spec, MartSpec):
                continue
            if _reaches(depends, names[child], names[parent]):
                continue
            rolled = _rolled_columns(names[child], mart.spec, own, staged[child], staged[parent].entity)
            key = staged[child].renamed[edge.column]
            if not rolled or key not in {c.name for c in mart.spec.columns}:
                continue
            model = self.fit(
                self.owned_name(
                    "intermediate_model",
                    child=own[0].child.noun if len(own) == 1 else f"{staged[child].noun}_children",
                    parent=staged[parent].noun,
                    source=staged[child].spec.source_name,
                )
            )
            if model in drafts or model in self.context.existing_models:
                continue
            self.add_rollup(model, names[child], key, rolled, staged[parent].entity, staged[child].noun)
            drafts[model] = self.draft.models[-1]
            joined = self.join_rollup(
                target.spec, model, key, staged[parent].renamed[edge.parent_column], rolled
            )
            described = target.semantic_model
            if described is not None and described.agg_time_dimension is not None:
                _count_having(described, staged[parent].entity, joined, rolled)
            depends.setdefault(names[parent], set()).add(names[child])

    def add_rollup(
        self, model: str, mart: str, key: str, rolled: list[_Rolled], parent_entity: str, child_table: str
    ) -> None:
        """The intermediate: the child's mart grouped by its key to the parent."""
        columns = [
            ColumnSpec(
                name=key,
                expression=key,
                description=f"The {docs.words(parent_entity)} these {docs.words(plural(child_table))} belong to.",
                tests=[DataTest(name="unique"), DataTest(name="not_null")]
                if self.conventions.test_primary_keys
                else [],
            )
        ]
        for item in rolled:
            columns.append(
                ColumnSpec(
                    name=item.name,
                    expression=f"{item.function}({item.column})",
                    description=item.description,
                )
            )
        description = (
            f"The measures of `{mart}` rolled up to the {docs.words(parent_entity)}: counts and sums summed, "
            f"first and last times at their extremes, one row per {docs.words(parent_entity)}."
        )
        spec = AggregateSpec(from_model=mart, group_by=[key], columns=columns)
        self.add(model, "intermediate", description, spec)

    def join_rollup(
        self, spec: MartSpec, model: str, key: str, parent_key: str, rolled: list[_Rolled]
    ) -> list[str]:
        """The parent mart's left join of a rollup, its columns named apart from the mart's own."""
        taken = {c.name for c in spec.columns} | {c.name for j in spec.joins for c in j.columns}
        names = self.pick([[r.name] for r in rolled], taken)
        alias = cte_name(model)
        columns = [
            ColumnSpec(
                name=name,
                expression=f"coalesce({alias}.{r.name}, 0)"
                if r.function in ("sum", "count")
                else f"{alias}.{r.name}",
                description=r.description,
            )
            for name, r in zip(names, rolled, strict=True)
        ]
        on = JoinCondition(left_alias=spec.base_alias, left_column=parent_key, right_column=key)
        spec.joins.append(MartJoin(model=model, alias=alias, on=[on], columns=columns))
        return names


def _count_having(described: SemanticModelSpec, entity: str, names: list[str], rolled: list[_Rolled]) -> None:
    """The parent's semantic model counts its rows whose children have any grandchild (the issues whose pull
    request was reviewed): a sum of the rolled-up count, 0 or 1 per row when the child is one per parent."""
    taken = {m.name for m in described.measures} | {d.name for d in described.dimensions}
    for name, item in zip(names, rolled, strict=True):
        if item.function != "count":
            continue
        what = name.removeprefix("number_of_")
        measure = f"{entity}_{what}_count"
        if measure in taken or len(measure) > measures.READABLE_NAME:
            continue
        taken.add(measure)
        description = f"Sum of `{name}` over the {docs.words(plural(entity))}: {item.description}"
        described.measures.append(
            SemanticMeasure(name=measure, agg="sum", expr=name, description=description)
        )
        label = docs.words(f"{plural(entity)}_{what}")
        described.metrics.append(
            SemanticMetric(
                name=measure, label=label[:1].upper() + label[1:100], description=description, measure=measure
            )
        )
