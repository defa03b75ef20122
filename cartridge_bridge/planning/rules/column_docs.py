"""Descriptions for generated models and columns when the warehouse has no comment to offer."""

from __future__ import annotations

from cartridge_bridge.context.naming import snake_case


def words(name: str) -> str:
    """`first_ordered_at` → `first ordered at`."""
    return snake_case(name).replace("_", " ").strip()


def sentence(text: str) -> str:
    """Warehouse text on one line, ending with a full stop."""
    flat = " ".join(text.split())
    return flat if flat.endswith((".", "!", "?")) else f"{flat}."


def describe_column(name: str, entity: str, comment: str | None = None) -> str:
    """A one-sentence description of a staged column, preferring the warehouse's own comment."""
    if comment and comment.strip():
        return sentence(comment)
    if name in ("id", f"{entity}_id"):
        return f"Primary key of the {words(entity)}."
    if name.endswith("_id"):
        return f"Identifier of the {words(name[: -len('_id')])} this {words(entity)} belongs to."
    if name.startswith(("is_", "has_")):
        return f"Whether the {words(entity)} {words(name)}."
    if name.endswith("_at"):
        return f"When the {words(entity)} was {words(name[: -len('_at')])}."
    if name.endswith(("_date", "_on")):
        return f"Date of the {words(entity)}'s {words(name.rsplit('_', 1)[0])}."
    return f"The {words(name)} of the {words(entity)}."


def describe_foreign_key(entity: str, parent_entity: str, parent_model: str) -> str:
    """Description of a column that joins to another model."""
    return f"Foreign key to the {words(parent_entity)} (`{parent_model}`) this {words(entity)} belongs to."


def describe_staging(source: str, schema: str, identifier: str, entity: str, comment: str | None) -> str:
    """Description of a staging model."""
    lead = f"{sentence(comment)} " if comment and comment.strip() else ""
    return (
        f"{lead}Staged from `{schema}.{identifier}` (source `{source}`): one row per {words(entity)}, "
        "columns renamed to snake_case and cast explicitly."
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


def _listing(names: list[str]) -> str:
    spoken = [words(n) for n in names]
    return spoken[0] if len(spoken) == 1 else f"{', '.join(spoken[:-1])} and {spoken[-1]}"


def describe_mart(
    role: str, entity: str, children: list[str], parents: list[str], totals: bool = False, dated: bool = False
) -> str:
    """Description of a dimension or fact: what a row is and what it answers."""
    thing = words(entity)
    if role == "fact":
        lead = f"Fact: one row per {thing}"
        lead += f", with the {_listing(parents)} it belongs to" if parents else ""
    else:
        lead = f"Dimension: one row per {thing} with its attributes"
    if not children:
        return f"{lead}."
    answers = [f"how many {_listing(children)} each {thing} has"]
    answers += ["what they add up to"] if totals else []
    answers += ["when the first and the last were"] if dated else []
    spoken = answers[0] if len(answers) == 1 else f"{', '.join(answers[:-1])} and {answers[-1]}"
    return f"{lead}. Answers {spoken}."


def describe_extension(mart: str, entity: str, children: list[str]) -> str:
    """Description of a new mart that adds new tables' measures to an existing mart's grain."""
    return (
        f"One row per {words(entity)} of `{mart}` with measures of the new {_listing(children)}: "
        f"`{mart}` itself is left as it is."
    )
