"""Descriptions for generated models and columns when the warehouse has no comment to offer."""

from __future__ import annotations

from collections.abc import Mapping

from cartridge_bridge.context.existing_models import ExistingModelFacts
from cartridge_bridge.context.key_facts import KeyFacts
from cartridge_bridge.context.naming import snake_case
from cartridge_bridge.planning.rules.column_meanings import well_known_meaning


def words(name: str) -> str:
    """`first_ordered_at` → `first ordered at`."""
    return snake_case(name).replace("_", " ").strip()


def sentence(text: str) -> str:
    """Warehouse text on one line, ending with a full stop."""
    flat = " ".join(text.split())
    return flat if flat.endswith((".", "!", "?")) else f"{flat}."


def describe_column(
    name: str,
    entity: str,
    comment: str | None = None,
    key: KeyFacts | None = None,
) -> str:
    """A staged column's description: the warehouse's comment, its role as the table's `key` (given when it is
    the table's one key column), or a well-known meaning; else empty, for the user to write (never filler).

    Never another model's description of a column that happens to share the name: a refund's `amount` is not
    an order's. Descriptions travel only along lineage (describe_existing_foreign_key)."""
    if comment and comment.strip():
        return sentence(comment)
    if key is not None:
        return describe_key(entity, key)
    return well_known_meaning(name, words(entity)) or ""


def describe_key(entity: str, key: KeyFacts, in_source: bool = False) -> str:
    """The table's key column, as sure as its evidence: a primary key only when declared or checked on the
    data; a history's key identifies the entity, and a row only with its version (`in_source`: the raw table)."""
    thing = words(entity)
    if key.history is not None:
        if in_source:
            return f"Identifies the {thing}, not a row: the table keeps one row per version of it."
        return f"Primary key of the {thing}: the latest of its versions is kept."
    if key.primary:
        return f"Primary key of the {thing}."
    return f"Identifies the {thing} (its key by name; not checked on the data)."


def describe_foreign_key(
    entity: str, parent_entity: str, parent_model: str, missing: tuple[int, int] | None = None
) -> str:
    """Description of a column that joins to another model; with `missing` (distinct values, how many the
    parent holds) when the data shows values the parent lacks, saying so."""
    described = (
        f"Foreign key to the {words(parent_entity)} (`{parent_model}`) this {words(entity)} belongs to."
    )
    if missing is None:
        return described
    distinct, held = missing
    return (
        f"{described[:-1]}; in the raw data {distinct - held} of its {distinct} distinct values "
        f"are not {words(parent_entity)} keys."
    )


def inherited(
    existing: Mapping[str, ExistingModelFacts], models: list[str | None], column: str
) -> tuple[str | None, str | None]:
    """How the first of these existing models (upstream of, or referenced by, the new column) documents
    `column`: (its plain description, None) or (None, the doc block it is); (None, None) when none does."""
    for model in models:
        facts = existing.get(model or "")
        found = facts.column(column) if facts is not None else None
        if found is not None and found.doc is not None:
            return None, found.doc
        if found is not None and found.description:
            return sentence(found.description), None
    return None, None


def describe_existing_foreign_key(entity: str, parent_entity: str, key_description: str | None) -> str:
    """A column that joins to an existing model's key, worded from that key's own description when it has a
    plain one: "The order this refund belongs to: This is a unique identifier for an order."

    No model is named: the sources YAML says it too, and a source points at no staging model (the
    relationships test says where the key lives). A key described by a doc block is not pasted: flattened,
    a block's markdown breaks, and its text would drift from the block (the column references it instead)."""
    lead = f"The {words(parent_entity)} this {words(entity)} belongs to"
    return f"{lead}: {sentence(key_description)}" if key_description else f"{lead}."


def describe_staging(
    source: str,
    schema: str,
    identifier: str,
    entity: str,
    comment: str | None,
    cleaning: list[str] | None = None,
) -> str:
    """Description of a staging model: where it reads from and what it does beyond renaming."""
    lead = f"{sentence(comment)} " if comment and comment.strip() else ""
    done = "".join(f"; {step}" for step in cleaning or [])
    return (
        f"{lead}Staged from `{schema}.{identifier}` (source `{source}`): one row per {words(entity)}{done}."
    )


def describe_source_table(entity: str, comment: str | None) -> str:
    """Description of a raw table declared as a source."""
    if comment and comment.strip():
        return sentence(comment)
    return f"Raw {words(entity)} records as loaded, one row per {words(entity)}."


def describe_aggregate(child: str, parent_entity: str, mart: str, measures: list[str]) -> str:
    """Description of an intermediate model that re-grains a child to a mart's key, listing its measures."""
    listed = ", ".join(f"`{m}`" for m in measures)
    return f"{words(child).capitalize()} re-grained to one row per {words(parent_entity)} for `{mart}`: {listed}."


def listing(names: list[str]) -> str:
    """Names as words in a list: `a`, `a and b`, `a, b and c`."""
    spoken = [words(n) for n in names]
    return spoken[0] if len(spoken) == 1 else f"{', '.join(spoken[:-1])} and {spoken[-1]}"


def describe_mart(
    role: str, entity: str, children: list[str], parents: list[str], totals: bool = False, dated: bool = False
) -> str:
    """Description of a dimension or fact: what a row is and what it answers."""
    thing = words(entity)
    if role == "fact":
        lead = f"Fact: one row per {thing}"
        lead += f", with the {listing(parents)} it belongs to" if parents else ""
    else:
        lead = f"Dimension: one row per {thing} with its attributes"
    if not children:
        return f"{lead}."
    answers = [f"how many {listing(children)} each {thing} has"]
    answers += ["what they add up to"] if totals else []
    answers += ["when the first and the last were"] if dated else []
    spoken = answers[0] if len(answers) == 1 else f"{', '.join(answers[:-1])} and {answers[-1]}"
    return f"{lead}. Answers {spoken}."


def describe_extension(mart: str, entity: str, key: str, children: list[str]) -> str:
    """Description of a new model that adds new tables' measures at an existing mart's grain, beside it."""
    return (
        f"One row per {words(entity)} of `{mart}`: its `{key}` and measures of the new {listing(children)}. "
        f"Join it to `{mart}` on `{key}` for the {words(entity)}'s other columns; `{mart}` itself is left as it is."
    )
