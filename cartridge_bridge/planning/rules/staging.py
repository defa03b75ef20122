"""Staging rules: sources YAML and one staging model per raw table, with keys, renames, casts and key tests."""

from __future__ import annotations

from typing import Any

from cartridge_bridge.context.category_values import is_category
from cartridge_bridge.context.key_facts import KeyFacts
from cartridge_bridge.context.keys import KeyEdge, entity_of, missing_keys_note, tracked_entity
from cartridge_bridge.context.project_context import RawSchema
from cartridge_bridge.gather.facts import RawColumn, RawRelation
from cartridge_bridge.planning.plan import (
    ColumnSpec,
    DataTest,
    Deduplicate,
    ModelTest,
    OrderBy,
    SourceSpec,
    SourceTableSpec,
    StagingSpec,
)
from cartridge_bridge.planning.planner import SourceDraft
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import staged_columns as cleaning
from cartridge_bridge.planning.rules.source_freshness import loaded_at_column
from cartridge_bridge.planning.rules.state import PlannerState, Staged
from cartridge_bridge.sql.identifiers import quote
from cartridge_bridge.sql.naming import dedupe, snake_case
from cartridge_bridge.sql.sql_fragments import expression_problem, is_plain_cast_type, literal_problem
from cartridge_bridge.sql.sql_types import timestamp_type, type_family


class StagingRules(PlannerState):
    """Sources and staging models for the kept raw tables of one schema."""

    def plan_staging(self, raw: RawSchema, tables: list[tuple[RawRelation, str]]) -> dict[str, Staged]:
        """The source YAML of one raw schema and a staging model per kept table, with key tests."""
        source = raw.source_name
        staged: dict[str, Staged] = {}
        entities = {r.identifier: entity_of(r) for r in raw.relations}
        for relation, table in tables:
            model = self.owned_name("staging_model", source=source, table=table)
            key = raw.keys.key(self.original(relation.identifier))
            # A foreign key named bare after its parent's entity (`account`) is staged as `account_id`.
            bare = {
                fk.column
                for fk in raw.keys.foreign_keys
                if fk.child == self.original(relation.identifier)
                and fk.parent in entities
                and snake_case(fk.column) == entities[fk.parent]
            }
            entity = versioned_entity(relation, key, set(entities.values()))
            staged[relation.identifier] = self.staging_columns(
                relation, table, model, source, key, bare, entity
            )
        edges = self.key_edges(raw, staged)
        for edge in edges:
            self.link_internal_key(staged[edge.child], staged[edge.parent], edge)
        self.link_existing_keys(staged, edges)
        source_tables = [
            SourceTableSpec(
                name=s.table,
                identifier=s.relation.identifier,
                quote_identifier=s.relation.identifier != s.table,
                description=docs.describe_source_table(s.entity, s.relation.comment),
                columns=[
                    self.source_column(s, c)
                    for c in sorted([*s.relation.columns, *s.dropped], key=lambda c: c.position)
                ],
                **self.freshness(s.relation),
            )
            for s in staged.values()
        ]
        self.draft.sources.append(
            SourceDraft(
                description=f"Declare {len(source_tables)} tables of `{raw.schema_name}` as source `{source}`.",
                spec=SourceSpec(
                    source_name=source,
                    schema_name=raw.schema_name,
                    quote_schema=raw.schema_name != snake_case(raw.schema_name),
                    description=f"Raw tables loaded into the `{raw.schema_name}` schema.",
                    tables=source_tables,
                ),
            )
        )
        for s in staged.values():
            description = docs.describe_staging(
                source,
                raw.schema_name,
                s.relation.identifier,
                s.entity,
                s.relation.comment,
                cleaning_steps(s),
            )
            self.add(s.model, "staging", description, s.spec, s.model_tests)
        return staged

    def freshness(self, relation: RawRelation) -> dict[str, Any]:
        """The table's `loaded_at_field` and thresholds when it has a loader's timestamp and freshness is on."""
        thresholds = self.conventions.source_freshness
        column = loaded_at_column(relation) if thresholds is not None else None
        return {"loaded_at_field": column.name, "freshness": thresholds} if column is not None else {}

    def link_internal_key(self, child: Staged, parent: Staged, edge: KeyEdge) -> None:
        """Describe and test a foreign key once, cast to the type of the key it references when that differs."""
        column = next(c for c in child.spec.columns if c.name == child.renamed[edge.column])
        target = next(c for c in parent.spec.columns if c.name == parent.renamed[edge.parent_column])
        column.description = docs.describe_foreign_key(child.entity, parent.entity, parent.model, edge.counts)
        parent_type, own_type = target.data_type or "", column.data_type or ""
        if parent_type and own_type and type_family(parent_type) != type_family(own_type):
            # `integer = text` does not compare: the join and the relationships test need one type.
            raw_type = child.relation.column(edge.column).data_type  # type: ignore[union-attr]
            column.cast_to = cast_to(raw_type, parent_type, self.context.adapter_type)
            column.data_type = parent_type if column.cast_to or raw_type == parent_type else own_type
        if self.conventions.test_relationships and not any(t.name == "relationships" for t in column.tests):
            test = DataTest(name="relationships", to=parent.model, field=parent.renamed[edge.parent_column])
            if edge.counts is not None:
                # The data already shows values the parent lacks: a test at error would fail the first build
                # and cost a repair round. It warns, saying why; the join stays (the data may be a sample).
                test.severity = "warn"
                test.note = missing_keys_note(column.name, parent.model, edge.counts)
            column.tests.append(test)

    def source_column(self, staged: Staged, column: RawColumn) -> ColumnSpec:
        """A raw column as the sources YAML declares it, described as its staged column is."""
        name = staged.renamed.get(column.name)
        key = staged.key
        if key is not None and key.history is not None and [column.name] == key.grain and not column.comment:
            # Staging keeps one row per key; the raw table does not: its key names the entity, not a row.
            described: str | None = docs.describe_key(staged.entity, key, in_source=True)
        else:
            described = next((c.description for c in staged.spec.columns if c.name == name), None)
        if described is None:  # left out of staging (a loader's soft-delete marker)
            described = docs.describe_column(cleaning.plain_name(column), staged.entity, column.comment)
        doc = next((c.description_doc for c in staged.spec.columns if c.name == name), None)
        return ColumnSpec(
            name=column.name, data_type=column.data_type, description=described, description_doc=doc
        )

    def link_existing_keys(self, staged: dict[str, Staged], edges: list[KeyEdge]) -> None:
        """Test `<entity>_id` columns that no new table owns against the existing model that does."""
        internal = {(e.child, e.column) for e in edges}
        for s in staged.values():
            for raw_column in s.relation.columns:
                name = s.renamed.get(raw_column.name)
                owner = self.context.existing_keys.get(name) if name else None
                if (
                    name is None
                    or owner is None
                    or name in s.spec.grain
                    or (s.relation.identifier, raw_column.name) in internal
                ):
                    continue
                self.external[(s.relation.identifier, name)] = owner
                target = owner.staging or owner.mart
                assert target is not None
                column = next(c for c in s.spec.columns if c.name == name)
                text, doc = docs.inherited(self.context.existing, [owner.staging, owner.mart], name)
                column.description = docs.describe_existing_foreign_key(
                    s.entity, name.removesuffix("_id"), text
                )
                column.description_doc = doc
                if self.conventions.test_relationships and not any(
                    t.name == "relationships" for t in column.tests
                ):
                    column.tests.append(DataTest(name="relationships", to=target, field=name))

    def staging_columns(
        self,
        relation: RawRelation,
        table: str,
        model: str,
        source: str,
        found: KeyFacts | None,
        bare_references: frozenset[str] | set[str] = frozenset(),
        entity: str | None = None,
    ) -> Staged:
        """One table's staged columns: renamed, cast where the type changes, keyed on the context's key, tested."""
        entity = entity or entity_of(relation)
        grain = found.grain if found is not None else []
        key = grain[0] if len(grain) == 1 else None
        adapter = self.context.adapter_type
        # Rows a loader marks deleted are left out here, once, and the marker column with them.
        # An active flag is one too on a table that keeps no versions (a history's versions are dated, not dropped).
        history = found is not None and found.history is not None
        markers = [
            c
            for c in relation.columns
            if (is_marker(c, adapter) or (cleaning.is_active_marker(c) and not history))
            and c.name not in grain
        ]
        kept = [c for c in relation.columns if c not in markers]
        types = [timestamp_type(adapter) if cleaning.holds_timestamps(c) else c.data_type for c in kept]
        # Through snake_case like every staged name: a table `1st` keys `_1st_id`, a plain identifier.
        key_names = {key: snake_case(f"{entity}_id")} if key is not None and snake_case(key) == "id" else {}
        taken = {snake_case(c.name) for c in kept}
        key_names |= {
            name: f"{snake_case(name)}_id"
            for name in bare_references
            if name != key and f"{snake_case(name)}_id" not in taken
        }
        key_names |= other_ids(kept, key, key_names, taken)
        wanted = cleaning.staged_names(kept, types, key_names)
        names = [self.fit(n) for n in dedupe([self.fit(w) for w in wanted])]
        # A key of several columns is the grain: each column not null, the combination unique.
        composite = grain if len(grain) > 1 else []
        testing = self.conventions.test_primary_keys
        columns = []
        for column, name, staged_type in zip(kept, names, types, strict=True):
            tests = []
            if column.name == key and testing:
                tests = [DataTest(name="unique"), DataTest(name="not_null")]
            elif column.name in composite and testing:
                tests = [DataTest(name="not_null")]
            elif self.conventions.test_accepted_values and staged_type == column.data_type:
                tests = accepted_values(relation, column, adapter)
            columns.append(
                ColumnSpec(
                    name=name,
                    source_column=column.name,
                    cast_to=cast_to(column.data_type, staged_type, adapter),
                    data_type=staged_type,
                    description=docs.describe_column(
                        name, entity, column.comment, found if column.name == key else None
                    ),
                    tests=tests,
                )
            )
        renamed = {c.name: n for c, n in zip(kept, names, strict=True)}
        spec = StagingSpec(
            source_name=source,
            table=table,
            entity=entity,
            grain=[renamed[c] for c in composite] or ([renamed[key]] if key else []),
            columns=columns,
            filter=" and ".join(marker_filter(m, adapter) for m in markers) or None,
            # A history table: the staging model keeps each key's latest version, so the key holds.
            deduplicate=Deduplicate(
                partition_by=[renamed[c] for c in grain],
                order_by=[OrderBy(column=renamed[c], descending=True) for c in found.latest_by],
            )
            if found is not None and found.latest_by
            else None,
        )
        model_tests = (
            [ModelTest(name="unique_combination_of_columns", columns=spec.grain)]
            if composite and testing
            else []
        )
        read = relation.model_copy(update={"columns": kept})
        return Staged(read, table, entity, model, spec, renamed, model_tests, markers, found)


def versioned_entity(relation: RawRelation, key: KeyFacts | None, entities: set[str]) -> str:
    """The entity a table holds: `contact` for a `contact_history` keeping every version of each contact when the
    schema has no `contact` table beside it (its rows are the contacts, its key `contact_id`); else `entity_of`."""
    return tracked_entity(entity_of(relation), key is not None and key.history is not None, entities)


def other_ids(
    columns: list[RawColumn], key: str | None, key_names: dict[str, str], taken: set[str]
) -> dict[str, str]:
    """A name for a raw column already spelled as the key's staged name (`company_id` beside `id as company_id`):
    another id of the same entity, given by the system the rows come from (a CRM's or the user's own), not the
    key. `company_external_id` says that; `company_id_2` would say nothing. Left to `dedupe` when both names for
    it are taken."""
    staged_key = key_names.get(key) if key is not None else None
    if staged_key is None:
        return {}
    entity = staged_key.removesuffix("_id")
    # `external_id` of its own beside it: `company_external_id` would read as that one.
    wanted = [n for n in (f"{entity}_external_id", f"{entity}_source_id") if n not in taken]
    if "external_id" in taken:
        wanted = wanted[1:] if wanted and wanted[0].endswith("_external_id") else wanted
    clashing = [c.name for c in columns if c.name != key and snake_case(c.name) == staged_key]
    return {clashing[0]: wanted[0]} if clashing and wanted else {}


def accepted_values(relation: RawRelation, column: RawColumn, adapter_type: str) -> list[DataTest]:
    """accepted_values for a category column: every value the profile read (all of them, nulls aside). None
    for a column whose values were not all read, or one of which would not stay one SQL literal. The values
    stay in the local plan: no prompt carries them."""
    profile = column.profile
    values = sorted(v.value for v in profile.top_values or []) if profile is not None else []
    if (
        not values
        or profile is None
        or profile.distinct_count != len(values)
        or not is_category(relation, column)
    ):
        return []
    if any(literal_problem(value, adapter_type) for value in values):
        return []
    return [DataTest(name="accepted_values", values=values)]


def marker_filter(column: RawColumn, adapter_type: str) -> str:
    """The filter keeping the rows a soft-delete marker does not mark, the marker quoted for the adapter."""
    return cleaning.deleted_filter(column, quote(column.name, adapter_type))


def is_marker(column: RawColumn, adapter_type: str) -> bool:
    """A soft-delete marker whose filter is a fragment the checks and renderer accept (else it stays a column)."""
    return cleaning.is_deleted_marker(column) and (
        expression_problem(marker_filter(column, adapter_type), adapter_type) is None
    )


def cleaning_steps(staged: Staged) -> list[str]:
    """What a staging model does beyond renaming, for its description."""
    spec = staged.spec
    steps = []
    if spec.filter:
        steps.append("rows the loader marked deleted left out")
    if spec.deduplicate:
        steps.append(f"the latest version of each {docs.words(staged.entity)} kept")
    casts = [f"`{c.name}`" for c in spec.columns if c.cast_to]
    if casts:
        steps.append(f"{', '.join(casts)} cast")
    return steps


def cast_to(raw_type: str, staged_type: str, adapter_type: str) -> str | None:
    """The cast a staged column needs: none when it keeps its raw type (or the type is one a cast cannot name)."""
    if staged_type.strip().lower() == raw_type.strip().lower():
        return None
    return staged_type if is_plain_cast_type(staged_type, adapter_type) else None
