"""The lineage of what a plan adds as a Mermaid flowchart: sources → staging → intermediate → marts."""

from __future__ import annotations

from cartridge_bridge.planning.plan import ExecutionPlan, SourceSpec
from cartridge_bridge.review.markdown import mermaid_label

# Each layer's subgraph, in the order data flows; the titles are cartridge's own words.
LAYERS = {
    "create_source": "sources",
    "create_staging": "staging",
    "create_intermediate": "intermediate",
    "create_mart": "marts",
    "create_time_spine": "marts",  # where LAYER_OF_TYPE places it: the semantic layer's date table
    "modify_in_place": "marts",
}
EXISTING = "existing models and sources"


def lineage_nodes(plan: ExecutionPlan) -> dict[str, list[str]]:
    """Every node of the chart by group: the plan's source tables and models per layer, then what they read
    that the plan does not add (the project's existing models and sources)."""
    groups: dict[str, list[str]] = {layer: [] for layer in LAYERS.values()}
    for action in plan.actions:
        if isinstance(action.spec, SourceSpec):
            groups["sources"] += [f"{action.spec.source_name}.{t.name}" for t in action.spec.tables]
        else:
            groups[LAYERS[action.type]].append(action.name)
    added = {name for names in groups.values() for name in names}
    groups[EXISTING] = list(dict.fromkeys(d for a in plan.actions for d in a.dependencies if d not in added))
    return groups


def mermaid_lineage(plan: ExecutionPlan, indent: str = "    ") -> str:
    """The plan's lineage as a Mermaid flowchart, one statement a line.

    Node ids are generated (`n1`, `n2`, …), never made from names: two names cannot become one node and no
    name is read as Mermaid. Names go only into quoted labels, escaped.
    """
    lines = ["flowchart LR"]
    ids: dict[str, str] = {}
    for number, (group, names) in enumerate(lineage_nodes(plan).items(), start=1):
        if not names:
            continue
        lines.append(f'{indent}subgraph g{number}["{group}"]')
        for name in names:
            if name in ids:  # one node per name, in the first group that holds it
                continue
            ids[name] = f"n{len(ids) + 1}"
            lines.append(f'{indent * 2}{ids[name]}["{mermaid_label(name)}"]')
        lines.append(f"{indent}end")
    for action in plan.actions:
        for dependency in action.dependencies:
            lines.append(f"{indent}{ids[dependency]} --> {ids[action.name]}")
    return "\n".join(lines) + "\n"
