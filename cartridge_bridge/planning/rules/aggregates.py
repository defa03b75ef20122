"""Aggregate rules: a child re-grained to a mart's key (counts, sums of amounts, first and last event), and its join."""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.context.keys import KeyEdge
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    ConditionalAggregate,
    DataTest,
    InputJoin,
    JoinCondition,
    MartJoin,
)
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.state import PlannerState, Staged
from cartridge_bridge.planning.rules.sum_conditions import splits, sum_condition
from cartridge_bridge.sql.naming import cte_name, dedupe, plural

# A child with more amounts than this gets no sum per type: each amount times each type would bury the mart.
MAX_SUMS_BY_TYPE = 2
# Columns that number a parent's rows in a list table: never what a link table links to.
_ORDINALS = frozenset({"index", "idx", "position", "pos", "seq", "sequence", "ordinal", "line_number"})


@dataclass
class Aggregate:
    """An intermediate model: one child re-grained to a mart's key, and the measures it outputs."""

    model: str
    child: Staged
    key: str  # the child's column grouped by, which holds the mart's key
    parent_key: str  # the mart's column it joins
    role: str  # `_by_<key>` when the child points at the parent through several keys
    measures: list[ColumnSpec]
    unsummed: str = ""  # why the child's amounts are not summed, when they are not
    # How the child reaches `key` when it does not hold it: its alias, and the join to the model that does
    # (many-to-one, on that model's proved key), adding `key` to each of its rows before grouping.
    via: tuple[str, InputJoin] | None = None
    split: frozenset[str] = frozenset()  # the measures counting or summing one flag's side or one value apart


class AggregateRules(PlannerState):
    """The intermediate models marts read: one per child a mart re-grains."""

    def plan_aggregates(
        self, staged: dict[str, Staged], links: list[KeyEdge], names: dict[str, str], bridges: set[str]
    ) -> dict[KeyEdge, Aggregate]:
        """One intermediate per child of a mart: the child re-grained to the mart's key."""
        pairs: dict[tuple[str, str], int] = {}
        for edge in links:
            pairs[(edge.child, edge.parent)] = pairs.get((edge.child, edge.parent), 0) + 1
        for edge in links:
            key = staged[edge.child].renamed[edge.column]
            # Two keys from one child to one parent (billing and shipping address): name each by its key.
            self.roles[edge] = (
                f"_by_{key.removesuffix('_id')}" if pairs[(edge.child, edge.parent)] > 1 else ""
            )
        wanted = [
            self.fit(
                self.owned_name(
                    "intermediate_model",
                    child=staged[e.child].noun,
                    parent=staged[e.parent].noun,
                    source=staged[e.child].spec.source_name,
                )
                + self.roles[e]
            )
            for e in links
        ]
        aggregates = {}
        for edge, model in zip(links, [self.fit(n) for n in dedupe(wanted)], strict=True):
            child, parent = staged[edge.child], staged[edge.parent]
            aggregate = self.aggregate(
                model,
                child,
                child.renamed[edge.column],
                parent.renamed[edge.parent_column],
                self.roles[edge],
                parent.entity,
                self.linked(child, child.renamed[edge.column]) if edge.child in bridges else None,
            )
            self.add_aggregate(aggregate, parent.entity, names[edge.parent])
            aggregates[edge] = aggregate
        return aggregates

    @staticmethod
    def linked(bridge: Staged, key: str) -> str | None:
        """The column a link table ties its parent to, when the table ends with its name (`label_id` of
        `issue_label`, `tag` of `ticket_tag`): the parent's count is of labels, not of link rows."""
        others = [
            c.name
            for c in bridge.spec.columns
            if c.name != key and not measures.is_loader_column(c) and c.name not in _ORDINALS
        ]
        ids = [c for c in others if c.endswith("_id")]
        candidates = ids if ids else others
        if len(candidates) != 1:
            return None
        noun = candidates[0].removesuffix("_id")
        # `issue_label` lists an issue's labels; seen from a label it is a list of issues, named by neither.
        return candidates[0] if bridge.table.endswith((f"_{noun}", f"_{plural(noun)}")) else None

    def aggregate(
        self,
        model: str,
        child: Staged,
        key: str,
        parent_key: str,
        role: str,
        parent_entity: str,
        linked: str | None = None,
    ) -> Aggregate:
        """The measures of a child per parent: how many, sums of its amounts, its first and last event.

        For a link table, `linked` is the column it links the parent to: the count is of its distinct values.
        """
        columns = [c for c in child.spec.columns if not measures.is_loader_column(c)]
        keys = {key, *child.spec.grain} | {c.name for c in columns if c.name.endswith("_id")}
        owned = f"the {docs.words(parent_entity)}'s {docs.words(child.noun)}"
        # (names to try, best first; expression or conditional aggregate; description) per measure, named once
        # all are known
        found: list[tuple[list[str], str | ConditionalAggregate, str]] = []
        split_at: set[int] = set()  # the measures that split the child's count or sum by a flag or a value
        counted = f"number_of_{plural(child.noun)}{role}"
        if linked is not None:
            noun = plural(linked.removesuffix("_id"))
            found.append(
                (
                    [f"number_of_{noun}{role}", counted],
                    f"count(distinct {linked})",
                    f"How many {docs.words(noun)} the {docs.words(parent_entity)} has (through `{child.model}`).",
                )
            )
        else:
            found.append(
                (
                    [counted],
                    "count(*)",
                    f"How many {docs.words(plural(child.noun))} the {docs.words(parent_entity)} has"
                    f"{f' (through `{key}`)' if role else ''}.",
                )
            )
        by_value = splits(child.relation, columns, keys, self.context.adapter_type) if linked is None else []
        if linked is None:
            children = docs.words(plural(child.noun))
            for flag in measures.flags(child.relation, columns, keys):
                if len(f"number_of_{plural(child.noun)}_{flag.no}{role}") > measures.READABLE_NAME:
                    continue  # the name would be cut with a hash to fit a warehouse: no one could ask for it
                for part, value in ((flag.yes, "true"), (flag.no, "false")):
                    split_at.add(len(found))
                    found.append(
                        (
                            [f"number_of_{plural(child.noun)}_{part}{role}"],
                            ConditionalAggregate(function="count", where=f"{flag.column} = {value}"),
                            f"How many of the {docs.words(parent_entity)}'s {children} have `{flag.column}` "
                            f"{value} (a null counts in neither).",
                        )
                    )
            for split in by_value:
                name = f"number_of_{plural(child.noun)}_{split.part}{role}"
                if len(name) > measures.READABLE_NAME:
                    continue
                split_at.add(len(found))
                found.append(
                    (
                        [name],
                        ConditionalAggregate(function="count", where=split.where),
                        f"How many of the {docs.words(parent_entity)}'s {children} have `{split.column}` "
                        f"{split.value!r}.",
                    )
                )
        currency = measures.currency_of(child.relation, columns)
        in_currency = f" (in {currency.single})" if currency.single else ""
        condition = sum_condition(child.relation, child.spec.columns)
        amounts = measures.amounts(child.relation, columns, keys)
        # A sum over the successful states only says so: a total of fulfilled lines is not one of all lines.
        over = f", only where `{condition.where}`" if condition.where is not None else ""
        for column in amounts if condition.template is not None else []:
            # `total_price` of orders is `total_order_price` at a customer's grain: the child's entity says of what.
            what = column.name.removeprefix("total_")
            if child.entity in what:
                total = f"total_{what}"
            else:  # `quantity` of an inventory quantity is its `total_inventory_quantity`
                total = (
                    f"total_{child.entity}" if child.entity.endswith(what) else f"total_{child.entity}_{what}"
                )
            # `amount` and `total_amount` both make `total_order_amount`: the other keeps its whole name.
            whole = (
                f"total_{column.name}"
                if child.entity in column.name
                else f"total_{child.entity}_{column.name}"
            )
            found.append(
                (
                    [f"{total}{role}", f"{whole}{role}"],
                    condition.measure(column.name) or "",
                    f"Sum of `{column.name}` over {owned}{in_currency}{over}.",
                )
            )
            # Discounts by type: an amount per value of a type column, when the amounts are summed as they are.
            for split in by_value if condition.template == "{0}" and len(amounts) <= MAX_SUMS_BY_TYPE else []:
                if not split.state and len(f"{total}_{split.part}{role}") <= measures.READABLE_NAME:
                    split_at.add(len(found))
                    found.append(
                        (
                            [f"{total}_{split.part}{role}"],
                            ConditionalAggregate(function="sum", column=column.name, where=split.where),
                            f"Sum of `{column.name}` over {owned} with `{split.column}` {split.value!r}"
                            f"{in_currency}.",
                        )
                    )
        line = measures.extended(child.relation, columns)
        if line is not None and not currency.mixed:
            # What the lines sell for (gross), summed at the parent's grain before its mart joins it (the mart's
            # own counts and sums do not fan out): every line, whatever its state, since an unfulfilled line is
            # sold all the same; arithmetic a reader of the mart may not do. Lines in several currencies are not summed.
            found.append(
                (
                    [f"total_{child.entity}_{line.name}{role}", f"total_{line.name}{role}"],
                    f"sum({line.left} {line.operator} {line.right})",
                    f"Sum of `{line.left}` times `{line.right}` over {owned}{in_currency}, every line whatever its "
                    f"state: what they sell for (gross sales).",
                )
            )
        dated = measures.event_time(child.relation, columns)
        if dated is not None and dated.name not in keys:
            # `first_created_at` would not say of what: the child's entity goes in unless the name has it.
            named = dated.name if child.entity in dated.name else f"{child.entity}_{dated.name}"
            for first_last, function, superlative in (
                ("first", "min", "Earliest"),
                ("last", "max", "Latest"),
            ):
                found.append(
                    (
                        [f"{first_last}_{named}{role}"],
                        f"{function}({dated.name})",
                        f"{superlative} `{dated.name}` among {owned}.",
                    )
                )
        names = self.pick([candidates for candidates, _, _ in found], {key})
        outputs = [
            ColumnSpec(name=name, aggregate=how, description=description)
            if isinstance(how, ConditionalAggregate)
            else ColumnSpec(name=name, expression=how, description=description)
            for name, (_, how, description) in zip(names, found, strict=True)
        ]
        unsummed = ", ".join(f"`{c.name}`" for c in amounts) if condition.template is None else ""
        why = (
            f" {unsummed} {'is' if len(amounts) == 1 else 'are'} not summed: {condition.why}."
            if unsummed
            else ""
        )
        splits_of = frozenset(names[i] for i in split_at)
        return Aggregate(model, child, key, parent_key, role, outputs, why, split=splits_of)

    def add_aggregate(self, aggregate: Aggregate, parent_entity: str, mart: str) -> None:
        """Add an aggregate to the plan as an intermediate model, its key tested unique and not null."""
        key_tests = (
            [DataTest(name="unique"), DataTest(name="not_null")] if self.conventions.test_primary_keys else []
        )
        key = ColumnSpec(
            name=aggregate.key,
            expression=aggregate.key,
            description=f"The {docs.words(parent_entity)} these {docs.words(plural(aggregate.child.noun))} belong to.",
            tests=key_tests,
        )
        description = (
            docs.describe_aggregate(
                aggregate.child.noun, parent_entity, mart, [m.name for m in aggregate.measures]
            )
            + aggregate.unsummed
        )
        if aggregate.via is not None:
            join = aggregate.via[1]
            description += (
                f" Each {docs.words(aggregate.child.entity)} takes its `{aggregate.key}` from `{join.model}`, joined"
                f" on `{join.on[0].right_column}`, one row each."
            )
        spec = AggregateSpec(
            from_model=aggregate.child.model,
            group_by=[aggregate.key],
            columns=[key, *aggregate.measures],
            from_alias=aggregate.via[0] if aggregate.via else None,
            joins=[aggregate.via[1]] if aggregate.via else [],
        )
        self.add(aggregate.model, "intermediate", description, spec)

    def aggregate_joins(self, alias: str, aggregates: list[Aggregate], taken: set[str]) -> list[MartJoin]:
        """Left joins of the aggregates on the mart's key; a measure whose name clashes takes its child's entity."""
        proposed = [m.name for a in aggregates for m in a.measures]
        clashing = {n for n in proposed if n in taken or proposed.count(n) > 1}
        candidates = []
        for aggregate in aggregates:
            for measure in aggregate.measures:
                name, role, table = measure.name, aggregate.role, aggregate.child.noun
                if name not in clashing:
                    candidates.append([name])
                elif name.startswith("number_of_"):  # counted by what links: by the link rows
                    candidates.append(
                        [f"number_of_{plural(table)}{role}", f"{aggregate.child.entity}_count{role}"]
                    )
                else:  # `total_amount` of orders and of refunds: `total_order_amount`, `total_refund_amount`
                    verb, _, rest = name.partition("_")
                    candidates.append([f"{verb}_{aggregate.child.entity}_{rest}", f"{verb}_{table}_{rest}"])
        names = iter(self.pick(candidates, taken))
        joins = []
        for aggregate in aggregates:
            join_alias = cte_name(self.fit(f"{aggregate.child.noun}{aggregate.role}_aggregated"))
            joined = []
            for measure in aggregate.measures:
                reference = f"{join_alias}.{measure.name}"
                counted = (measure.computed() or "").startswith(("count(", "sum("))
                joined.append(
                    ColumnSpec(
                        name=next(names),
                        expression=f"coalesce({reference}, 0)" if counted else reference,
                        description=measure.description,
                    )
                )
            on = JoinCondition(left_alias=alias, left_column=aggregate.parent_key, right_column=aggregate.key)
            joins.append(MartJoin(model=aggregate.model, alias=join_alias, on=[on], columns=joined))
        return joins
