"""The project's existing models as the warehouse and their code hold them, not as their YAML describes them.

Columns and types come from the warehouse (the gather graph) when the model is built, else from its SQL
(sqlglot); a column only the YAML names is stale documentation, a finding, never a column. The grain comes
from constraints, `unique` + `not_null` tests or `unique_combination_of_columns`; a staging model's columns
that are more than a rename carry their expression (`amount / 100`). Every planner and view reads these.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field
from sqlglot import exp
from sqlglot.errors import SqlglotError

from cartridge_bridge.gather.facts import ProjectGraph
from cartridge_bridge.gather.manifest import Manifest, Node
from cartridge_bridge.sql.sql_fragments import SQLGLOT_DIALECTS

Layer = Literal["staging", "intermediate", "mart"]
ColumnsFrom = Literal["warehouse", "sql", "unknown"]

# `{{ ref('x') }}`, `{{ ref('pkg', 'x') }}` and `{{ source('s', 't') }}`: read as a table sqlglot can parse.
_REF = re.compile(r"""\{\{-?\s*ref\(\s*(?:['"][^'"]*['"]\s*,\s*)?['"]([^'"]+)['"]\s*\)\s*-?\}\}""")
_SOURCE = re.compile(r"""\{\{-?\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*-?\}\}""")
# Jinja that changes nothing in the query's shape: comments and the model's config() call.
_INERT = re.compile(r"\{#.*?#\}|\{\{-?\s*config\(.*?\)\s*-?\}\}", re.DOTALL)
_KEY_TESTS = {"unique", "not_null"}
_STAGING_PREFIXES = ("stg_", "base_")
Columns = list[tuple[str, exp.Expression | None]]  # output name → how it is made (None: passed through)


class ExistingColumn(BaseModel):
    """A real column of an existing model: its type, its description where the YAML has one, how it is made."""

    model_config = ConfigDict(extra="forbid")

    name: str
    data_type: str | None = None
    description: str | None = None
    doc: str | None = None  # the doc block the description is (a name the manifest's docs hold)
    expression: str | None = None  # staging: the SQL when it is more than a rename (`amount / 100`, a cast)
    # The warehouse's type of the one raw column `expression` reads: whether the project divides whole cents
    # or a decimal. Only the unit rule reads it; kept out of every dump (the prompts stay as they were).
    raw_type: str | None = Field(default=None, exclude=True)


class ExistingModelFacts(BaseModel):
    """One model of the project as it is: real columns, grain, what it reads, and its stale documentation."""

    model_config = ConfigDict(extra="forbid")

    name: str
    path: str | None = None
    layer: Layer
    columns_from: ColumnsFrom  # the warehouse's relation, the model's SQL, or neither (columns unknown)
    columns: list[ExistingColumn] = []
    grain: list[str] = []
    grain_from: str | None = (
        None  # `primary_key constraint`, `unique + not_null tests`, `unique_combination_…`
    )
    reads: list[str] = []  # models and seeds by name, sources as `<source>.<table>`
    stale_columns: list[str] = []  # named in the YAML, absent from the relation (or its SQL)

    def column(self, name: str) -> ExistingColumn | None:
        """The column of this name, compared as warehouses compare unquoted names."""
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)


def stale_findings(facts: dict[str, ExistingModelFacts]) -> list[str]:
    """One line per documented column the model does not have: what `cartridge context` and the run report list."""
    lines = []
    for model in facts.values():
        for column in model.stale_columns:
            where = f" ({model.path})" if model.path else ""
            lines.append(
                f"stale documentation: `{model.name}.{column}`{where} is documented, but the "
                f"{'built relation' if model.columns_from == 'warehouse' else 'SQL'} has no such column"
            )
    return lines


class ExistingModels:
    """The project's models as the warehouse or their SQL holds them, worked out on demand and kept.

    SQL is parsed only where the warehouse does not answer (a model not built, a parent of one) or for a
    staging model's transforms: a project of 20,000 models is not parsed whole for the few that matter.
    """

    def __init__(self, manifest: Manifest, graph: ProjectGraph | None, adapter_type: str) -> None:
        self.models = {n.unique_id: n for n in manifest.root_models()}
        self.by_name = {n.name: n for n in self.models.values()}
        self.built = {n.unique_id: n for n in (graph.nodes if graph else []) if n.exists}
        self.sources = {s.unique_id: f"{s.source_name}.{s.name}" for s in manifest.sources.values()}
        self.tests = manifest.tests_by_model()
        self.docs = {
            d.block_contents.strip(): d.name for d in manifest.root_docs() if d.block_contents.strip()
        }
        self.dialect = SQLGLOT_DIALECTS.get(adapter_type)
        self._columns: dict[str, Columns | None] = {}
        self._facts: dict[str, ExistingModelFacts | None] = {}

    def get(self, name: str) -> ExistingModelFacts | None:
        """The facts of the model of this name; None when the project has no such model."""
        if name not in self._facts:
            model = self.by_name.get(name)
            self._facts[name] = self._model_facts(model) if model is not None else None
        return self._facts[name]

    def some(self, names: set[str] | list[str]) -> dict[str, ExistingModelFacts]:
        """The facts of these models, by name, in name order (names the project lacks left out)."""
        return {n: f for n in sorted(set(names)) if (f := self.get(n)) is not None}

    def _sql_columns(self, unique_id: str, seen: frozenset[str]) -> Columns | None:
        """A node's columns with their expressions: a built relation's as they are, a model's from its SQL."""
        if unique_id in self._columns:
            return self._columns[unique_id]
        node = self.built.get(unique_id)
        found: Columns | None = None
        if node is not None:
            found = [(c.name, None) for c in sorted(node.columns, key=lambda c: c.position)] or None
        model = self.models.get(unique_id)
        wanted = found is None or (model is not None and _layer(model) == "staging")
        if model is not None and unique_id not in seen and wanted:
            parsed = _parse_model(model, self.dialect)
            if parsed is not None:
                lookup = _upstream_lookup(
                    model, self.models, self.sources, lambda u: self._sql_columns(u, seen | {unique_id})
                )
                from_sql = _query_columns(parsed, {}, lookup)
                # The warehouse names the columns; the SQL says how each is made (when it names the same ones).
                same = (
                    from_sql and found and [n.lower() for n, _ in from_sql] == [n.lower() for n, _ in found]
                )
                if found is None or same:
                    found = from_sql or found
        self._columns[unique_id] = found
        return found

    def _raw_types(self, model: Node) -> dict[str, str]:
        """Column → the warehouse's type, over the built sources and seeds a staging model reads."""
        return {
            c.name.lower(): c.data_type
            for parent in model.depends_on.nodes
            if (relation := self.built.get(parent)) is not None
            for c in relation.columns
        }

    def _model_facts(self, model: Node) -> ExistingModelFacts:
        unique_id, dialect = model.unique_id, self.dialect
        relation = self.built.get(unique_id)
        derived = self._sql_columns(unique_id, frozenset())
        layer = _layer(model)
        if relation is not None and relation.columns:
            types = {c.name.lower(): c.data_type for c in relation.columns}
            names = [c.name for c in sorted(relation.columns, key=lambda c: c.position)]
            columns_from: ColumnsFrom = "warehouse"
        else:
            types, names = {}, [n for n, _ in derived or []]
            columns_from = "sql" if derived else "unknown"
        expressions = {n.lower(): e for n, e in derived or []}
        raw_types = self._raw_types(model) if layer == "staging" else {}
        yaml = {(c.name or key).lower(): c for key, c in model.columns.items()}
        columns = []
        for name in names:
            documented = yaml.get(name.lower())
            made = expressions.get(name.lower())
            text = documented.description.strip() if documented and documented.description.strip() else None
            columns.append(
                ExistingColumn(
                    name=name,
                    data_type=types.get(name.lower())
                    or (_cast_type(made, dialect) if made is not None else None),
                    description=text,
                    doc=_doc_name(documented.doc_blocks, self.docs.get(text or ""))
                    if documented and text
                    else None,
                    expression=_transform(made, dialect) if layer == "staging" and made is not None else None,
                    raw_type=_read_type(made, raw_types) if layer == "staging" and made is not None else None,
                )
            )
        real = {n.lower() for n in names}
        grain, grain_from = _grain(model, self.tests.get(unique_id, []))
        return ExistingModelFacts(
            name=model.name,
            path=model.original_file_path or None,
            layer=layer,
            columns_from=columns_from,
            columns=columns,
            grain=grain,
            grain_from=grain_from,
            reads=[_read_name(p, self.models, self.sources) for p in model.depends_on.nodes],
            stale_columns=[
                c.name or n for n, c in yaml.items() if columns_from != "unknown" and n not in real
            ],
        )


def _read_type(expression: exp.Expression, types: dict[str, str]) -> str | None:
    """The type of the one column an expression reads (`amount` of `amount / 100`); None for none or several."""
    read = {c.name.lower() for c in expression.find_all(exp.Column)}
    return types.get(next(iter(read))) if len(read) == 1 else None


def _layer(model: Node) -> Layer:
    """Staging reads only sources and seeds (or is named so); intermediate is named `int_`; the rest are marts."""
    parents = model.depends_on.nodes
    if model.name.startswith(_STAGING_PREFIXES) or (
        parents and all(p.startswith(("source.", "seed.")) for p in parents)
    ):
        return "staging"
    return "intermediate" if model.name.startswith("int_") else "mart"


def _read_name(unique_id: str, models: dict[str, Node], sources: dict[str, str]) -> str:
    if unique_id in sources:
        return sources[unique_id]
    node = models.get(unique_id)
    return node.name if node is not None else unique_id.rsplit(".", 1)[-1]


def _doc_name(doc_blocks: tuple[str, ...], matched: str | None) -> str | None:
    """The doc block a description is: dbt ≥1.9 lists it; older manifests only hold its rendered text."""
    for block in doc_blocks:
        if block.startswith("doc."):
            return block.rsplit(".", 1)[-1]
    return matched


def _grain(model: Node, tests: list[Node]) -> tuple[list[str], str | None]:
    """The columns that make a row unique: a primary key constraint, a unique + not_null column, or a
    unique_combination_of_columns test."""
    for constraint in model.constraints:
        if constraint.get("type") == "primary_key" and constraint.get("columns"):
            return [str(c) for c in constraint["columns"]], "primary_key constraint"
    for key, column in model.columns.items():
        if any(c.get("type") == "primary_key" for c in column.constraints):
            return [column.name or key], "primary_key constraint"
    tested: dict[str, set[str]] = {}
    combinations: list[list[str]] = []
    for test in tests:
        name = (test.test_name or "").rsplit(".", 1)[-1]
        if test.column_name:
            tested.setdefault(test.column_name, set()).add(name)
        elif name == "unique_combination_of_columns":
            kwargs = (test.test_metadata or {}).get("kwargs") or {}
            columns = kwargs.get("combination_of_columns")
            if isinstance(columns, list) and columns:
                combinations.append([str(c) for c in columns])
    keys = [column for column, names in tested.items() if names >= _KEY_TESTS]
    if keys:
        # Several unique columns are alternative keys: the one named after the model first, else the shortest.
        entity = model.name.split("_")[-1].rstrip("s")
        best = min(keys, key=lambda k: (not k.lower().startswith(entity), len(k), k))
        return [best], "unique + not_null tests"
    if combinations:
        return min(combinations, key=len), "unique_combination_of_columns test"
    return [], None


def _parse_model(model: Node, dialect: str | None) -> exp.Expression | None:
    """The model's query: its compiled SQL when the manifest has it, else its raw SQL with refs and sources read
    as tables; None when other Jinja (loops, macros) shapes it, or sqlglot cannot read it."""
    if model.language != "sql":
        return None
    if model.compiled_code is None:
        return raw_query(model.raw_code, dialect)
    try:
        parsed = sqlglot.parse_one(model.compiled_code, read=dialect)
    except SqlglotError:
        return None
    return parsed if isinstance(parsed, exp.Select | exp.SetOperation) else None


def raw_query(raw_code: str, dialect: str | None) -> exp.Expression | None:
    """A model's raw SQL as one query, refs and sources read as tables and its config() call left out; None when
    other Jinja (loops, macros) shapes it, or it is not one select (or union of selects) sqlglot can read."""
    text = _INERT.sub("", raw_code)
    text = _REF.sub(lambda m: _placeholder(f"ref:{m.group(1)}"), text)
    text = _SOURCE.sub(lambda m: _placeholder(f"source:{m.group(1)}.{m.group(2)}"), text)
    if "{{" in text or "{%" in text:
        return None
    try:
        parsed = sqlglot.parse(text, read=dialect)
    except SqlglotError:
        return None
    if len(parsed) != 1 or parsed[0] is None:
        return None
    return parsed[0] if isinstance(parsed[0], exp.Select | exp.SetOperation) else None


def _placeholder(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


Lookup = Callable[[str], Columns | None]


def _upstream_lookup(
    model: Node,
    models: dict[str, Node],
    sources: dict[str, str],
    columns_of: Callable[[str], list[tuple[str, exp.Expression | None]] | None],
) -> Lookup:
    """Placeholder table name (`ref:x`, `source:s.t`) → that parent's columns, when known."""
    by_name: dict[str, str] = {}
    for parent in model.depends_on.nodes:
        if parent in sources:
            by_name[f"source:{sources[parent]}"] = parent
        else:
            by_name[f"ref:{_read_name(parent, models, sources)}"] = parent

    def lookup(name: str) -> list[tuple[str, exp.Expression | None]] | None:
        parent = by_name.get(name)
        found = columns_of(parent) if parent is not None else None
        # A parent's columns pass through by name: what it computed is its own, not this model's transform.
        return [(n, None) for n, _ in found] if found is not None else None

    return lookup


def _query_columns(query: exp.Expression, ctes: dict[str, Columns | None], lookup: Lookup) -> Columns | None:
    """The output columns of a query with each one's expression (None: passed through), CTEs followed."""
    if isinstance(query, exp.Subquery):
        return _query_columns(query.this, ctes, lookup)
    if isinstance(query, exp.SetOperation):
        return _query_columns(query.args["this"], ctes, lookup)
    if not isinstance(query, exp.Select):
        return None
    scope = dict(ctes)
    with_ = query.args.get("with") or query.args.get("with_")
    for cte in with_.expressions if with_ is not None else []:
        scope[cte.alias_or_name] = _query_columns(cte.this, scope, lookup)
    tables: dict[str, Columns | None] = {}
    for source in [query.args.get("from") or query.args.get("from_"), *(query.args.get("joins") or [])]:
        if source is None:
            continue
        relation = source.this
        alias = relation.alias_or_name
        if isinstance(relation, exp.Table):
            tables[alias] = scope[relation.name] if relation.name in scope else lookup(relation.name)
        elif isinstance(relation, exp.Subquery):
            tables[alias] = _query_columns(relation.this, scope, lookup)
        else:
            tables[alias] = None
    found: Columns = []
    for projection in query.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            wanted = (
                [projection.table]
                if isinstance(projection, exp.Column) and projection.table
                else list(tables)
            )
            for alias in wanted:
                columns = tables.get(alias)
                if columns is None:
                    return None
                found.extend(columns)
            continue
        name = projection.alias_or_name
        if not name:
            return None
        inner = projection.unalias()
        if isinstance(inner, exp.Column):
            # A column passed up from a CTE keeps the expression that CTE made it with.
            table = inner.table or (next(iter(tables)) if len(tables) == 1 else "")
            upstream = tables.get(table)
            made = next((e for n, e in upstream or [] if n.lower() == inner.name.lower()), None)
            found.append((name, made))
        else:
            found.append((name, inner))
    return found


def _transform(expression: exp.Expression, dialect: str | None) -> str | None:
    """The expression as SQL without table qualifiers; None for a plain column (a rename is no transform)."""
    if isinstance(expression, exp.Column):
        return None
    bare = expression.transform(
        lambda node: (
            exp.column(node.name, quoted=node.this.quoted)
            if isinstance(node, exp.Column) and node.table and isinstance(node.this, exp.Identifier)
            else node
        )
    )
    return bare.sql(dialect=dialect, comments=False)


def _cast_type(expression: exp.Expression, dialect: str | None) -> str | None:
    """The type a cast gives a column: all the SQL says about types without the warehouse."""
    if isinstance(expression, exp.Cast | exp.TryCast):
        return expression.to.sql(dialect=dialect)
    return None


def short_description(text: str | None, limit: int = 160) -> str | None:
    """A description on one line, cut at `limit` characters: what prompts carry of a long doc block."""
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
