"""Staging rules: sources YAML and one staging model per raw table, with keys, renames, casts and key tests."""

from __future__ import annotations

from cartridge_bridge.context.keys import KeyEdge, entity_of, foreign_keys, table_key
from cartridge_bridge.context.naming import RESERVED_WORDS, dedupe, snake_case
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
from cartridge_bridge.planning.rules.state import PlannerState, Staged
from cartridge_bridge.planning.sql_fragments import is_plain_cast_type


class StagingRules(PlannerState):
    """Sources and staging models for the kept raw tables of one schema."""

    def plan_staging(self, raw: RawSchema, tables: list[tuple[RawRelation, str]]) -> dict[str, Staged]:
        """The source YAML of one raw schema and a staging model per kept table, with key tests."""
        conventions, source = self.conventions, raw.source_name
        staged: dict[str, Staged] = {}
        relations = [relation for relation, _ in tables]
        entities = frozenset(entity_of(r) for r in relations)
        for relation, table in tables:
            model = self.fit(conventions.fill("staging_model", source=source, table=table))
            staged[relation.identifier] = self.staging_columns(relation, table, model, source, entities)
        edges = foreign_keys(relations)
        for edge in edges:
            child, parent = staged[edge.child], staged[edge.parent]
            column = next(c for c in child.spec.columns if c.name == child.renamed[edge.column])
            column.description = docs.describe_foreign_key(child.entity, parent.entity, parent.model)
            if conventions.test_relationships:
                column.tests.append(
                    DataTest(name="relationships", to=parent.model, field=parent.renamed[edge.parent_column])
                )
        self.link_existing_keys(staged, edges)
        source_tables = [
            SourceTableSpec(
                name=s.table,
                identifier=s.relation.identifier,
                quote_identifier=s.relation.identifier != s.table,
                description=docs.describe_source_table(s.entity, s.relation.comment),
                columns=[
                    ColumnSpec(
                        name=c.name,
                        data_type=c.data_type,
                        description=docs.describe_column(snake_case(c.name), s.entity, c.comment),
                    )
                    for c in s.relation.columns
                ],
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
                source, raw.schema_name, s.relation.identifier, s.entity, s.relation.comment
            )
            self.add(s.model, "staging", description, s.spec, s.model_tests)
        return staged

    def link_existing_keys(self, staged: dict[str, Staged], edges: list[KeyEdge]) -> None:
        """Test `<entity>_id` columns that no new table owns against the existing model that does."""
        internal = {(e.child, e.column) for e in edges}
        for s in staged.values():
            for raw_column in s.relation.columns:
                name = s.renamed[raw_column.name]
                owner = self.context.existing_keys.get(name)
                if (
                    owner is None
                    or name in s.spec.grain
                    or (s.relation.identifier, raw_column.name) in internal
                ):
                    continue
                self.external[(s.relation.identifier, name)] = owner
                target = owner.staging or owner.mart
                assert target is not None
                column = next(c for c in s.spec.columns if c.name == name)
                column.description = docs.describe_foreign_key(s.entity, name.removesuffix("_id"), target)
                if self.conventions.test_relationships:
                    column.tests.append(DataTest(name="relationships", to=target, field=name))

    def staging_columns(
        self, relation: RawRelation, table: str, model: str, source: str, entities: frozenset[str]
    ) -> Staged:
        """One table's staged columns: renamed, cast, keyed and tested."""
        entity = entity_of(relation)
        found = table_key(relation, entities)
        key = found.columns[0] if len(found.columns) == 1 else None
        wanted = [self.staged_name(c, key, entity) for c in relation.columns]
        names = [self.fit(n) for n in dedupe([self.fit(w) for w in wanted])]
        adapter = self.context.adapter_type
        # A key of several columns is the grain: each column not null, the combination unique.
        composite = list(found.columns) if len(found.columns) > 1 else []
        testing = self.conventions.test_primary_keys
        columns = []
        for column, name in zip(relation.columns, names, strict=True):
            tests = []
            if column.name == key and testing:
                tests = [DataTest(name="unique"), DataTest(name="not_null")]
            elif column.name in composite and testing:
                tests = [DataTest(name="not_null")]
            columns.append(
                ColumnSpec(
                    name=name,
                    source_column=column.name,
                    # A type a cast cannot name (a struct with quoted fields, a user-defined type) stays as is.
                    cast_to=column.data_type if is_plain_cast_type(column.data_type, adapter) else None,
                    data_type=column.data_type,
                    description=docs.describe_column(
                        name if column.name == key else snake_case(column.name), entity, column.comment
                    ),
                    tests=tests,
                )
            )
        renamed = {c.name: n for c, n in zip(relation.columns, names, strict=True)}
        spec = StagingSpec(
            source_name=source,
            table=table,
            entity=entity,
            grain=[renamed[c] for c in composite] or ([renamed[key]] if key else []),
            columns=columns,
            # A history table: the staging model keeps each key's latest version, so the key holds.
            deduplicate=Deduplicate(
                partition_by=[renamed[c] for c in found.columns],
                order_by=[OrderBy(column=renamed[c], descending=True) for c in found.latest_by],
            )
            if found.latest_by
            else None,
        )
        model_tests = (
            [ModelTest(name="unique_combination_of_columns", columns=spec.grain)]
            if composite and testing
            else []
        )
        return Staged(relation, table, entity, model, spec, renamed, model_tests)

    @staticmethod
    def staged_name(column: RawColumn, key: str | None, entity: str) -> str:
        """The staged name of a raw column: snake_case, `id` as `<entity>_id`, reserved words suffixed."""
        name = snake_case(column.name)
        if column.name == key and name == "id":
            return f"{entity}_id"
        # A reserved word would need quoting in every model downstream; a suffix keeps SQL plain.
        return f"{name}_value" if name in RESERVED_WORDS else name
