"""Unit tests of cartridge_bridge.facts.parse_facts on a small shop document and broken variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cartridge_bridge.errors import UsageError
from cartridge_bridge.facts import GATHER_VERSION, parse_facts

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
