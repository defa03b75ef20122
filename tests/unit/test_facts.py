"""Unit tests of cartridge_bridge.facts.parse_facts on a small shop document and broken variants."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import GATHER_VERSION, parse_facts

FACTS = Path(__file__).resolve().parent.parent / "fixtures" / "unit" / "facts_shop.json"


@pytest.fixture
def document() -> dict[str, Any]:
    return json.loads(FACTS.read_text(encoding="utf-8"))


def test_valid_document_parses() -> None:
    facts = parse_facts(FACTS.read_text(encoding="utf-8"))
    assert facts.cartridge_gather_version == GATHER_VERSION
    assert facts.adapter_type == "postgres"
    assert facts.schemas == ["raw_shop"]
    assert [r.identifier for r in facts.relations] == [
        "customers",
        "orders",
        "order_items",
        "products",
        "payments",
    ]
    assert {r.schema_ for r in facts.relations} == {"raw_shop"}


def test_valid_document_keeps_warehouse_spellings_keys_and_comments() -> None:
    relations = {r.identifier: r for r in parse_facts(FACTS.read_text(encoding="utf-8")).relations}
    customers, orders, products = relations["customers"], relations["orders"], relations["products"]
    assert customers.comment == "Registered shop customers"
    assert customers.primary_key == ["id"]
    assert [c.name for c in customers.columns] == ["id", "email", "createdAt"]
    created_at = customers.column("createdAt")
    assert created_at is not None and created_at.data_type == "timestamp with time zone"
    assert customers.column("created_at") is None  # lookups use the warehouse's exact spelling
    [key] = orders.foreign_keys
    assert (key.columns, key.ref_schema, key.ref_identifier, key.ref_columns) == (
        ["customer_id"],
        "raw_shop",
        "customers",
        ["id"],
    )
    assert relations["order_items"].foreign_keys == []
    assert relations["order_items"].primary_key == []
    assert products.type == "view"
    assert orders.type == "table"  # the default
    assert products.column("name").comment == "Display name shown in the shop"  # type: ignore[union-attr]
    assert customers.column("id").nullable is False  # type: ignore[union-attr]
    assert customers.column("email").nullable is True  # type: ignore[union-attr]


def test_parsed_facts_are_frozen(document: dict[str, Any]) -> None:
    facts = parse_facts(json.dumps(document))
    with pytest.raises(ValueError, match="frozen"):
        facts.relations[0].identifier = "other"  # type: ignore[misc]


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_unknown_version_is_refused_naming_it(document: dict[str, Any], version: object) -> None:
    document["cartridge_gather_version"] = version
    with pytest.raises(UsageError, match=f"gather version {version!r};") as caught:
        parse_facts(json.dumps(document), origin="gather.json")
    assert str(caught.value).startswith("gather.json ")
    assert f"reads version {GATHER_VERSION}" in str(caught.value)


def test_missing_version_is_refused(document: dict[str, Any]) -> None:
    del document["cartridge_gather_version"]
    with pytest.raises(UsageError, match="gather version None"):
        parse_facts(json.dumps(document))


def test_not_json_is_refused_with_the_origin_and_line() -> None:
    with pytest.raises(UsageError, match=r"^out\.txt is not JSON \(.* at line 2\)$"):
        parse_facts('{"cartridge_gather_version": 1,\n oops}', origin="out.txt")


@pytest.mark.parametrize("text", ["[]", "[1, 2]", '"facts"', "1", "null"])
def test_a_non_object_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not a gather document"):
        parse_facts(text)


def test_malformed_relation_names_the_location(document: dict[str, Any]) -> None:
    del document["relations"][1]["columns"][2]["data_type"]
    with pytest.raises(UsageError, match=r"malformed at relations\.1\.columns\.2\.data_type: Field required"):
        parse_facts(json.dumps(document))


def test_bad_relation_type_names_the_location(document: dict[str, Any]) -> None:
    document["relations"][0]["type"] = "sequence"
    with pytest.raises(UsageError, match=r"malformed at relations\.0\.type"):
        parse_facts(json.dumps(document))


def test_extra_top_level_key_is_refused(document: dict[str, Any]) -> None:
    document["extra"] = {"anything": 1}
    with pytest.raises(UsageError, match=r"malformed at extra: Extra inputs are not permitted"):
        parse_facts(json.dumps(document))


def test_extra_key_in_a_relation_is_refused(document: dict[str, Any]) -> None:
    document["relations"][2]["colour"] = "red"
    with pytest.raises(UsageError, match=r"malformed at relations\.2\.colour"):
        parse_facts(json.dumps(document))


def test_extra_key_in_a_column_is_refused(document: dict[str, Any]) -> None:
    document["relations"][0]["columns"][0]["is_key"] = True
    with pytest.raises(UsageError, match=r"malformed at relations\.0\.columns\.0\.is_key"):
        parse_facts(json.dumps(document))


# What the macro prints with `profile: true` on PostgreSQL: the integration tests keep it current.
PROFILED = Path(__file__).resolve().parents[2] / "integration_tests" / "expected" / "gather_postgres.json"


@pytest.fixture
def profiled() -> dict[str, Any]:
    return json.loads(PROFILED.read_text(encoding="utf-8"))


def test_a_document_without_profile_or_graph_still_parses() -> None:
    facts = parse_facts(FACTS.read_text(encoding="utf-8"))
    assert facts.profile is None and facts.graph is None
    assert all(r.profile is None and all(c.profile is None for c in r.columns) for r in facts.relations)


def test_profiled_document_keeps_statistics_apart_from_the_schema(profiled: dict[str, Any]) -> None:
    facts = parse_facts(json.dumps(profiled))
    assert facts.profile is not None
    assert (facts.profile.sample_limit, facts.profile.top_values_limit) == (None, 20)
    order = next(r for r in facts.relations if r.identifier == "order")
    assert order.profile is not None and order.profile.row_count == 5
    user, order_date = order.column("user"), order.column("Order Date")
    assert user is not None and user.profile is not None
    assert [(v.value, v.count) for v in user.profile.top_values or []] == [("alice", 3), ("bob", 1)]
    assert order_date is not None and order_date.profile is not None
    assert (order_date.profile.min, order_date.profile.max) == ("2024-01-05", "2024-02-29")
    mixed = next(r for r in facts.relations if r.identifier == "MixedCase")
    price = mixed.column("prix_€")
    assert price is not None and price.profile is not None and price.profile.min == 9.99


def test_graph_nodes_parse_with_their_relations(profiled: dict[str, Any]) -> None:
    graph = parse_facts(json.dumps(profiled)).graph
    assert graph is not None and graph.project_name == "cartridge_integration_tests"
    built = graph.node("model.cartridge_integration_tests.fct_order_lines")
    assert built is not None and built.exists and built.type == "table" and built.schema_ == "raw_it_keyed"
    line_no = built.column("Line No")
    assert line_no is not None and (line_no.data_type, line_no.position) == ("integer", 2)
    not_built = graph.node("model.cartridge_integration_tests.not_built")
    assert not_built is not None and (not_built.exists, not_built.type, not_built.columns) == (
        False,
        None,
        [],
    )
    source = graph.node("source.cartridge_integration_tests.raw.mixed_case")
    assert source is not None and (source.source_name, source.identifier) == ("raw", "MixedCase")
    assert graph.node("model.cartridge_integration_tests.nope") is None


def test_without_profile_drops_every_statistic(profiled: dict[str, Any]) -> None:
    stripped = parse_facts(json.dumps(profiled)).without_profile()
    del profiled["profile"]
    for relation in profiled["relations"]:
        del relation["profile"]
        for column in relation["columns"]:
            del column["profile"]
    assert stripped == parse_facts(json.dumps(profiled))
    assert '"profile"' not in stripped.model_dump_json(exclude_none=True)


def test_a_column_left_unprofiled_is_refused_naming_it(profiled: dict[str, Any]) -> None:
    del profiled["relations"][2]["columns"][1]["profile"]
    with pytest.raises(
        UsageError, match=r"is malformed: the document is profiled but column 'user' of raw_it\.order"
    ):
        parse_facts(json.dumps(profiled))


def test_a_profile_without_settings_is_refused(profiled: dict[str, Any]) -> None:
    del profiled["profile"]
    with pytest.raises(
        UsageError, match=r"relation raw_it\.MixedCase has a profile but the document has no profile"
    ):
        parse_facts(json.dumps(profiled))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda d: d["relations"][0]["columns"][0]["profile"].update(min=True),
            r"relations\.0\.columns\.0\.profile\.min",
        ),
        (lambda d: d["relations"][0]["profile"].update(row_count=-1), r"relations\.0\.profile\.row_count"),
        (lambda d: d["profile"].update(sample_limit=0), r"profile\.sample_limit"),
        (
            lambda d: d["relations"][0]["columns"][4]["profile"]["top_values"][0].update(count=0),
            r"relations\.0\.columns\.4\.profile\.top_values\.0\.count",
        ),
        (
            lambda d: d["graph"]["nodes"][3].update(type="table"),
            r"graph\.nodes\.3: a node whose relation does not exist",
        ),
        (
            lambda d: d["graph"]["nodes"][0].update(source_name="raw"),
            r"graph\.nodes\.0: source_name is set for sources",
        ),
        (lambda d: d["graph"]["nodes"][0].update(colour="red"), r"graph\.nodes\.0\.colour: Extra inputs"),
    ],
    ids=[
        "min-a-boolean",
        "negative-row-count",
        "zero-sample",
        "zero-count",
        "missing-node-typed",
        "model-with-source",
        "extra-node-key",
    ],
)
def test_malformed_profile_and_graph_name_the_location(
    profiled: dict[str, Any], change: Callable[[dict[str, Any]], None], where: str
) -> None:
    change(profiled)
    with pytest.raises(UsageError, match=f"malformed at {where}"):
        parse_facts(json.dumps(profiled))
