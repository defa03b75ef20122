"""The LLM planner's semantic layer: each mart's semantic model derived by the rules, its metrics named by the model.

Entities, dimensions and candidate measures are what `rules/semantic.py` derives from the mart the model
specified (its base model, the raw table's profile and keys, the aggregates it joins), settled to hold
together as the rules plan's are. In the tests-and-documentation request each mart lists its candidate
measures; the model answers, per candidate, keep or drop, and the metric's name, label and description, and
may add a measure over the mart's columns. The answer is applied to the derived model and checked like the
rest of the plan (`semantic_checks.py`), plus the names no other mart of the plan may hold.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from cartridge_bridge.context.naming import singular
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.gather.facts import RawRelation
from cartridge_bridge.planning.llm.answers import MetricAnswer
from cartridge_bridge.planning.llm.asking import validation_lines
from cartridge_bridge.planning.llm.prompt_data import CandidateMeasure
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    MartSpec,
    SemanticMeasure,
    SemanticMetric,
    SemanticModelSpec,
    StagingSpec,
    output_columns,
)
from cartridge_bridge.planning.planner import ModelDraft, SourceDraft
from cartridge_bridge.planning.rules import measures, semantic
from cartridge_bridge.planning.sql_types import is_temporal


def derived_models(
    specified: Mapping[str, ModelDraft], sources: list[SourceDraft], context: ProjectContext
) -> dict[str, SemanticModelSpec]:
    """Mart name → the semantic model the rules derive for it, for the marts on a model planned here whose
    semantic models hold together."""
    relations = _raw_relations(sources, context)
    staging = {n: d.spec for n, d in specified.items() if isinstance(d.spec, StagingSpec)}
    reads = {(s.source_name, s.table): n for n, s in staging.items()}
    models = []
    for name, draft in specified.items():
        spec = draft.spec
        # A mart extending an existing model describes nothing new: the project's own layer has that model.
        if not isinstance(spec, MartSpec) or spec.base_model not in specified:
            continue
        base = specified[spec.base_model].spec
        relation = relations.get((base.source_name, base.table)) if isinstance(base, StagingSpec) else None
        fallback_entity = spec.grain[0].removesuffix("_id") if len(spec.grain) == 1 else singular(name)
        mart_base = semantic.base_of(spec, base, relation, fallback_entity)
        parents = _foreign_entities(spec, base, relation, relations, reads, staging, context)
        aggregated = {}
        for join in spec.joins:
            joined = specified[join.model].spec if join.model in specified else None
            if isinstance(joined, AggregateSpec):
                child = specified[joined.from_model].spec if joined.from_model in specified else None
                aggregated[join.model] = (joined.columns, output_columns(child) if child is not None else [])
        times = semantic.first_last_times(spec.joins, aggregated) | _joined_times(spec, specified)
        models.append((name, semantic.semantic_model(name, mart_base, spec, parents, times)))
    kept = {id(m) for m in semantic.settle_names([m for _, m in models], context.semantic_names)}
    return {name: model for name, model in models if id(model) in kept}


def _joined_times(spec: MartSpec, specified: Mapping[str, ModelDraft]) -> set[str]:
    """The mart's columns carrying a date or time of a joined model (a pull request's `merged_at` from the pull
    request joined onto its issue): the mart holds them, so its semantic model can date measures by them."""
    found = set()
    for join in spec.joins:
        joined = specified[join.model].spec if join.model in specified else None
        types = (
            {c.name: measures.column_type(c) for c in output_columns(joined)} if joined is not None else {}
        )
        for column in join.columns:
            reference = semantic.COLUMN_REFERENCE.fullmatch((column.expression or "").strip())
            passed = reference.group(2) if reference and reference.group(1) in (None, join.alias) else None
            kind = measures.column_type(column) or types.get(passed or "", "")
            if is_temporal(kind):
                found.add(column.name)
    return found


def _raw_relations(sources: list[SourceDraft], context: ProjectContext) -> dict[tuple[str, str], RawRelation]:
    """(source name, table) → the raw table the sources declare under that name, as the context gathered it."""
    by_schema = {(r.schema_name, x.identifier): x for r in context.raw_schemas for x in r.relations}
    found = {}
    for source in sources:
        for table in source.spec.tables:
            relation = by_schema.get((source.spec.schema_name, table.identifier))
            if relation is not None:
                found[(source.spec.source_name, table.name)] = relation
    return found


def _foreign_entities(
    spec: MartSpec,
    base: object,
    relation: RawRelation | None,
    relations: Mapping[tuple[str, str], RawRelation],
    reads: Mapping[tuple[str, str], str],
    staging: Mapping[str, StagingSpec],
    context: ProjectContext,
) -> dict[str, tuple[str, str]]:
    """The mart's foreign key columns → (the model they point at, its entity), as the rules find them: the
    context's foreign keys to another table this plan stages, and keys an existing model of the project owns."""
    if not isinstance(base, StagingSpec) or relation is None:
        return {}
    passed = semantic.passed_through(spec)  # mart column → base column
    staged_as = {c.name: c.source_column or c.name for c in base.columns if c.expression is None}
    raw_to_mart = {staged_as[b]: m for m, b in passed.items() if b in staged_as}
    schema = next((r for r in context.raw_schemas if r.schema_name == relation.schema_), None)
    staged_tables = {
        relations[k].identifier: n
        for k, n in reads.items()
        if k in relations and relations[k].schema_ == relation.schema_
    }
    found: dict[str, tuple[str, str]] = {}
    internal = set()
    for key in schema.keys.foreign_keys if schema is not None else []:
        if key.child != relation.identifier or key.parent == key.child:
            continue
        internal.add(key.column)
        parent = staged_tables.get(key.parent)
        if parent is not None and key.column in raw_to_mart:
            found[raw_to_mart[key.column]] = (parent, staging[parent].entity)
    for mart_column, base_column in passed.items():
        owner = context.existing_keys.get(base_column)
        target = (owner.mart or owner.staging) if owner is not None else None
        raw = staged_as.get(base_column)
        if target is None or base_column in base.grain or raw in internal or mart_column in found:
            continue
        found[mart_column] = (target, base_column.removesuffix("_id"))
    return found


def candidates(model: SemanticModelSpec) -> list[CandidateMeasure]:
    """A derived model's measures as the documentation request lists them."""
    return [
        CandidateMeasure(
            name=m.name, agg=m.agg, expr=m.expr, time=m.agg_time_dimension or model.agg_time_dimension or ""
        )
        for m in model.measures
    ]


def time_dimensions(model: SemanticModelSpec) -> list[str]:
    """The time dimensions a measure the model adds may be dated by."""
    return [d.name for d in model.dimensions if d.type == "time"]


def with_metrics(
    derived: SemanticModelSpec, answers: list[MetricAnswer], partial: bool = False
) -> tuple[SemanticModelSpec, list[str]]:
    """The derived model with the answer's metrics (kept candidates renamed and described, added measures), and
    every problem of the answer that the plan's checks would not name. A candidate left unanswered keeps its
    derived metric; only with `partial` is that no problem."""
    lines: list[str] = []
    known = {m.name: m for m in derived.measures}
    given: dict[str, MetricAnswer] = {}
    for answer in answers:
        where = f"metrics[{answer.measure}]"
        if answer.measure in given:
            lines.append(f"{where}: a second entry for this measure; give one")
        elif answer.measure in known:
            lines += _candidate_problems(where, answer, known[answer.measure])
        elif not answer.keep:
            lines.append(f"{where}: not a candidate measure (expected one of: {', '.join(known) or 'none'})")
        elif answer.agg is None or answer.expr is None:
            lines.append(f"{where}: not a candidate measure; a new measure needs its `agg` and `expr`")
        given[answer.measure] = answer
    if not partial:
        lines += [
            f"metrics: candidate measure {n!r} has no entry; keep or drop it" for n in known if n not in given
        ]
    model = derived.model_copy(deep=True, update={"measures": [], "metrics": []})
    for measure in derived.measures:
        chosen = given.get(measure.name)
        if chosen is None:  # left unanswered: the derived metric stays
            model.measures.append(measure)
            model.metrics += [x for x in derived.metrics if x.measure == measure.name]
        elif chosen.keep:
            model.measures.append(measure)
            lines += _add_metric(model, chosen, measure.name)
    for answer in answers:
        if answer.measure not in known and answer.keep and answer.agg is not None and answer.expr is not None:
            model.measures.append(
                SemanticMeasure(
                    name=answer.measure,
                    agg=answer.agg,
                    expr=answer.expr,
                    description=answer.description,
                    agg_time_dimension=answer.time,
                )
            )
            lines += _add_metric(model, answer, answer.measure)
    return model, lines


def _add_metric(model: SemanticModelSpec, answer: MetricAnswer, measure: str) -> list[str]:
    """The answer's metric over `measure` added to the model, or why it cannot be (a label too long, say)."""
    try:
        metric = SemanticMetric(
            name=answer.name or "", label=answer.label, description=answer.description, measure=measure
        )
    except ValidationError as error:
        return [f"metrics[{answer.measure}].{line}" for line in validation_lines(error)]
    model.metrics.append(metric)
    return []


def _candidate_problems(where: str, answer: MetricAnswer, measure: SemanticMeasure) -> list[str]:
    """A candidate's entry: named and labelled when kept; its measure as listed (a change is a new measure)."""
    lines = []
    if answer.keep and not answer.name:
        lines.append(f"{where}.name: a kept metric needs its name")
    changed = [
        field
        for field, value, listed in (
            ("agg", answer.agg, measure.agg),
            ("expr", answer.expr, measure.expr),
            ("time", answer.time, measure.agg_time_dimension),
        )
        if value is not None and value != listed and not (field == "time" and listed is None)
    ]
    if changed:
        lines.append(
            f"{where}: a candidate's {', '.join(changed)} cannot change; add a new measure under another name"
        )
    return lines


def name_problems(
    model: SemanticModelSpec,
    derived: SemanticModelSpec,
    others: list[SemanticModelSpec],
    existing: Mapping[str, list[str]],
) -> list[str]:
    """Names the plan's other marts (as derived) or the project hold already: a metric shares its name with its
    own measure at most; an added measure's name is no entity, dimension, measure or metric elsewhere. Measure
    and metric names are one namespace across the project's semantic models (MetricFlow refuses a name two
    models hold), so a clash names both owners: the model can rename the right one."""
    lines = []
    owners = {n: f"the project's {kind}" for kind in ("metric", "measure") for n in existing.get(kind, [])}
    owners |= {n: o.name for o in others for n in _metric_names(o)}
    elements = {e.name for o in [model, *others] for e in o.entities} | {
        d.name for o in [model, *others] for d in o.dimensions
    }
    for metric in model.metrics:
        own = {m.name for m in model.measures if m.name != metric.measure}
        if metric.name in owners or metric.name in own:
            owner = owners.get(metric.name, model.name)
            lines.append(
                f"metrics[{metric.measure}].name: {metric.name!r} is already a metric or measure of {owner}; "
                f"names are one namespace across the semantic models, choose another for {model.name}"
            )
    candidates = {m.name for m in derived.measures}
    for measure in model.measures:
        if measure.name in candidates:
            continue
        if measure.name in owners:
            lines.append(
                f"metrics[{measure.name}]: measure {measure.name!r} of {model.name} is already a measure or "
                f"metric of {owners[measure.name]}; measure names are one namespace across the semantic models, "
                "choose another"
            )
        elif measure.name in elements:
            lines.append(f"metrics[{measure.name}]: {measure.name!r} is already a name of the semantic layer")
    return lines


def _metric_names(model: SemanticModelSpec) -> list[str]:
    return [m.name for m in model.measures] + [m.name for m in model.metrics]


def without_repeated_metrics(models: list[SemanticModelSpec]) -> list[str]:
    """Metrics whose name an earlier model of the plan holds (a mart the rules planned in a failed one's place
    was checked against no answer), left out in place; a note for each model that lost some."""
    seen: set[str] = set()
    notes = []
    for model in models:
        repeated = [m.name for m in model.metrics if m.name in seen]
        model.metrics = [m for m in model.metrics if m.name not in seen]
        seen |= {m.name for m in model.metrics}
        if repeated:
            notes.append(
                f"{model.name}: metrics {', '.join(repeated)} left out, another mart's metric has the name"
            )
    return notes
