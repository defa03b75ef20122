"""Deterministic, realistic dbt manifests (schema v12) and brownfield cases with their ground truth."""

from __future__ import annotations

import gc
import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bench import synthetic_sql as sql
from bench.synthetic_nodes import (
    FINANCE_GROUP,
    PACKAGE,
    PROJECT,
    SyntheticModel,
    exposure_node,
    macro_node,
    metadata,
    model_node,
    source_node,
    test_node,
    uid,
)
from cartridge_bridge.gather.facts import RawColumn, RawRelation

_BASE = (
    "customer order order_item product payment invoice account user session event campaign subscription "
    "plan shipment warehouse supplier employee store region ticket refund coupon cart review category "
    "vendor contract lead opportunity contact company deal task note address device page_view click "
    "transaction ledger_entry journal budget forecast quota territory partner affiliate promotion discount "
    "price inventory_item stock_movement purchase_order receipt carrier route driver vehicle booking "
    "reservation room guest membership course lesson enrollment survey badge invoice_line payout dispute"
).split()
ENTITIES = _BASE + [
    f"{q}_{b}" for q in ("billing", "shipping", "legacy", "external", "parent") for b in _BASE[:25]
]
NEW_ENTITIES = (
    "loyalty_member gift_card warranty_claim referral survey_response return_label price_alert "
    "wishlist loyalty_tier bundle"
).split()
SOURCES = (
    "stripe shopify salesforce hubspot zendesk netsuite segment jira intercom braze marketo quickbooks "
    "workday greenhouse mixpanel amplitude snowplow google_ads facebook_ads app_db erp"
).split()
_ZIPF = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(len(ENTITIES))))
_ATTRIBUTE_NAMES = [name for name, _, _ in sql.ATTRIBUTES]


@dataclass(frozen=True)
class BrownfieldCase:
    """A synthetic project plus new raw tables, and which models truly share a key with them."""

    document: dict[str, Any]
    relations: list[RawRelation]
    key_names: frozenset[str]
    key_sharing: frozenset[str]  # names of the project's own models that carry one of key_names


def plural(noun: str) -> str:
    """A plain English plural of a snake_case noun, good enough for table names."""
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def brownfield_case(
    models: int,
    seed: int = 0,
    new_tables: int = 2,
    tests: int = 0,
    macros: int = 0,
    lean: bool = False,
    total_nodes: int | None = None,
) -> BrownfieldCase:
    """A project of `models` models (plus tests, sources, macros) and `new_tables` new raw relations.

    `lean` writes only what the relevant slice reads (models' names, paths, column names, SQL and
    parents; no sources, compiled code or checksums): fast enough for unit tests. `total_nodes`
    sets the number of macros so that models, tests, sources and macros add up to it.
    """
    rng = random.Random(seed)
    new = rng.sample(NEW_ENTITIES, new_tables)
    relations, key_names = _new_relations(rng, new)
    # The document is one big acyclic graph: cyclic-GC passes while building it find nothing and cost ~40%.
    collecting = gc.isenabled()
    gc.disable()
    try:
        generated = _models(rng, models, new)
        if total_nodes is not None:
            macros = total_nodes - models - tests - sum(1 for m in generated if m.source)
        document = _document(rng, generated, tests, macros, lean)
    finally:
        if collecting:
            gc.enable()
    sharing = frozenset(m.name for m in generated if m.package == PROJECT and key_names.intersection(m.keys))
    return BrownfieldCase(document, relations, key_names, sharing)


def synthetic_case(nodes: int, seed: int = 0) -> BrownfieldCase:
    """A brownfield case of exactly `nodes` nodes: a quarter models, half tests, then sources and macros."""
    return brownfield_case(nodes // 4, seed, new_tables=3, tests=nodes // 2, total_nodes=nodes)


def write_manifest(document: dict[str, Any], path: Path) -> int:
    """Write a manifest document as compact JSON (as dbt does) and return its size in bytes."""
    data = msgspec.json.encode(document)
    path.write_bytes(data)
    return len(data)


def _new_relations(rng: random.Random, new: list[str]) -> tuple[list[RawRelation], frozenset[str]]:
    relations, keys = [], set()
    for position, entity in enumerate(new):
        # Mid-tail entities: shared by tens of existing models, not by thousands.
        references = rng.sample(ENTITIES[40:160], rng.randint(1, 2)) + new[:position][-1:]
        names = ["id"] + [f"{r}_id" for r in references] + rng.sample(_ATTRIBUTE_NAMES, 6)
        columns = [
            RawColumn(
                name=n, data_type="bigint" if n.endswith("id") else "text", position=i, nullable=n != "id"
            )
            for i, n in enumerate(names, 1)
        ]
        declared = ["id"] if position % 2 == 0 else []
        relations.append(
            RawRelation.model_validate(
                {
                    "schema": "raw_new",
                    "identifier": plural(entity),
                    "columns": columns,
                    "primary_key": declared,
                }
            )
        )
        keys.update([f"{entity}_id"] + [f"{r}_id" for r in references])
    return relations, frozenset(keys)


def _models(rng: random.Random, count: int, new: list[str]) -> list[SyntheticModel]:
    taken: dict[str, int] = {}
    own: dict[str, list[SyntheticModel]] = {"staging": [], "intermediate": [], "marts": []}
    models: list[SyntheticModel] = []
    for index in range(count):
        package = PACKAGE if index % 33 == 32 else PROJECT
        layer = "staging" if index < 3 or index % 20 < 8 else ("intermediate" if index % 20 < 15 else "marts")
        entity = rng.choices(ENTITIES, cum_weights=_ZIPF)[0]
        others = {e for e in rng.choices(ENTITIES, cum_weights=_ZIPF, k=rng.randint(0, 3)) if e != entity}
        keys = [f"{entity}_id", *sorted(f"{e}_id" for e in others)]
        if rng.random() < 0.004:  # a legacy model that already mentions a new table's key
            keys.append(f"{rng.choice(new)}_id")
        start = rng.randrange(len(_ATTRIBUTE_NAMES))  # a window of the ring: cheaper than rng.sample
        attributes = (_ATTRIBUTE_NAMES * 2)[start : start + rng.randint(12, 38)]
        documented = rng.choices(("all", "attributes", "none"), (55, 15, 30))[0]
        if layer == "staging" or package != PROJECT:
            source = rng.choice(SOURCES)
            name = _unique(f"stg_{source}__{plural(entity)}", taken)
            model = SyntheticModel(
                name, "staging", f"staging/{source}", entity, keys, attributes, documented=documented
            )
            model.source, model.package = (source, name.split("__", 1)[1]), package
        else:
            model = _derived(rng, layer, entity, keys, attributes, documented, own, taken, new)
        if package == PROJECT:
            own[model.layer].append(model)
        models.append(model)
    return models


def _derived(
    rng: random.Random,
    layer: str,
    entity: str,
    keys: list[str],
    attributes: list[str],
    documented: str,
    own: dict[str, list[SyntheticModel]],
    taken: dict[str, int],
    new: list[str],
) -> SyntheticModel:
    # Parents come from the recent tail of the project, as real projects grow domain by domain.
    pool = own["staging"][-300:] + (own["intermediate"][-300:] if layer == "marts" else [])
    parents = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
    keys = list(dict.fromkeys([parents[0].keys[0], *keys, *(p.keys[0] for p in parents[1:])]))
    if rng.random() < 0.004:  # named after a new table's subject (say, fed by a spreadsheet until now)
        name = _unique(f"int_{plural(rng.choice(new))}_{rng.choice(sql.VERBS)}", taken)
        folder = "intermediate/legacy"
    elif layer == "intermediate":
        name = _unique(f"int_{plural(parents[0].entity)}_{rng.choice(sql.VERBS)}", taken)
        folder = f"intermediate/{rng.choice(SOURCES[:6])}"
    else:
        name = _unique(f"{rng.choice(('fct', 'dim'))}_{plural(entity)}", taken)
        folder = f"marts/{rng.choice(('finance', 'marketing', 'product', 'operations', 'sales'))}"
    model = SyntheticModel(name, layer, folder, parents[0].entity, keys, attributes, documented=documented)
    model.parents = [(parents[0].name, keys[0])] + [(p.name, p.keys[0]) for p in parents[1:]]
    model.star = documented == "all" and rng.random() < 0.1
    return model


def _unique(name: str, taken: dict[str, int]) -> str:
    number = taken[name] = taken.get(name, 0) + 1
    return name if number == 1 else f"{name}_{number}"


def _document(
    rng: random.Random, models: list[SyntheticModel], tests: int, macros: int, lean: bool
) -> dict[str, Any]:
    nodes = {uid(m): model_node(m, lean) for m in models}
    sources = {} if lean else {s["unique_id"]: s for s in (source_node(m) for m in models if m.source)}
    own = [m for m in models if m.package == PROJECT]
    for index in range(tests if own else 0):
        test = test_node(own[index % len(own)], index // len(own))
        nodes[test["unique_id"]] = test
    macro_nodes = [macro_node(index) for index in range(macros)]
    marts = [uid(m) for m in own if m.layer == "marts"][:4]
    exposures = {} if lean or not marts else {e["unique_id"]: e for e in [exposure_node(marts)]}
    parent_map = {node_id: list(node["depends_on"]["nodes"]) for node_id, node in nodes.items()}
    parent_map.update({node_id: [] for node_id in sources})
    parent_map.update({node_id: list(e["depends_on"]["nodes"]) for node_id, e in exposures.items()})
    child_map: dict[str, list[str]] = {node_id: [] for node_id in parent_map}
    for node_id, parents in parent_map.items():
        for parent in parents:
            child_map.setdefault(parent, []).append(node_id)
    disabled = {
        f"model.{PROJECT}.old_{m.name}": [{**model_node(m), "name": f"old_{m.name}"}] for m in own[:3]
    }
    return {
        "metadata": metadata(rng),
        "nodes": nodes,
        "sources": sources,
        "macros": {m["unique_id"]: m for m in macro_nodes},
        "docs": {
            f"doc.{PROJECT}.__overview__": {
                "name": "__overview__",
                "resource_type": "doc",
                "package_name": PROJECT,
                "path": "overview.md",
                "original_file_path": "models/overview.md",
                "unique_id": f"doc.{PROJECT}.__overview__",
                "block_contents": "### Acme analytics\n\nThe warehouse models of Acme, owned by analytics.",
            }
        },
        "exposures": exposures,
        "metrics": {},
        "groups": {f"group.{PROJECT}.finance": FINANCE_GROUP},
        "selectors": {},
        "disabled": disabled,
        "parent_map": parent_map,
        "child_map": child_map,
        "group_map": {"finance": []},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
    }
