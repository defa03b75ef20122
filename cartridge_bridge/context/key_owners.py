"""Which existing, built models own a key column, so new tables can be joined and tested against them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cartridge_bridge.gather.facts import ProjectGraph
from cartridge_bridge.gather.manifest import Manifest, Node
from cartridge_bridge.sql.naming import singular

_STAGING_PREFIXES = ("stg_", "base_")


class KeyOwner(BaseModel):
    """The existing models whose primary key is one column: the staging one and the mart one."""

    model_config = ConfigDict(extra="forbid")

    key: str
    staging: str | None = None
    mart: str | None = None
    # Model name → its columns in the warehouse, so that new models join only columns that exist.
    # Not shown to planners' prompts: the relevant slice already lists existing models' columns.
    columns: dict[str, list[str]] = Field(default_factory=dict, exclude=True)


def key_owners(manifest: Manifest, graph: ProjectGraph | None) -> dict[str, KeyOwner]:
    """Key column → its owners among the project's models that are tested unique + not_null and built.

    Only models the warehouse holds count: a test against a model that was never built would fail the
    first `dbt build` of the new models. Without the graph nothing is known to be built.
    """
    if graph is None:
        return {}
    built = {n.unique_id for n in graph.nodes if n.exists}
    columns = {n.unique_id: [c.name.lower() for c in n.columns] for n in graph.nodes if n.exists}
    tests = manifest.tests_by_model()
    candidates: dict[tuple[str, str], list[Node]] = {}
    for model in manifest.root_models():
        if model.unique_id not in built or model.name.startswith("int_"):
            continue
        names: dict[str, set[str]] = {}
        for test in tests.get(model.unique_id, []):
            if test.column_name:
                names.setdefault(test.column_name.lower(), set()).add(
                    (test.test_name or "").rsplit(".", 1)[-1]
                )
        keys = [column for column, tested in names.items() if {"unique", "not_null"} <= tested]
        if len(keys) == 1:
            layer = "staging" if model.name.startswith(_STAGING_PREFIXES) else "mart"
            candidates.setdefault((keys[0], layer), []).append(model)
    owners: dict[str, KeyOwner] = {}
    for (key, layer), models in sorted(candidates.items()):
        owner = owners.setdefault(key, KeyOwner(key=key))
        best = _best(key, models)
        setattr(owner, layer, best.name)
        owner.columns[best.name] = columns.get(best.unique_id, [])
    return owners


def _best(key: str, models: list[Node]) -> Node:
    """The model named after the key's entity (`customer_id` → `dim_customers`), else the shortest name."""
    entity = key.removesuffix("_id")
    return min(models, key=lambda m: (not singular(m.name).endswith(entity), len(m.name), m.name))
