"""Unit tests of cartridge_bridge.context.keys: primary keys and the foreign keys that join raw tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cartridge_bridge.context.keys import KeyEdge, entities_by_table, entity_of, foreign_keys, primary_key
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import ForeignKey, RawColumn, RawRelation, parse_facts

FACTS = Path(__file__).resolve().parent.parent / "fixtures" / "unit" / "facts_shop.json"


@pytest.fixture(scope="module")
def shop() -> dict[str, RawRelation]:
    facts = parse_facts(FACTS.read_text(encoding="utf-8"))
    return {r.identifier: r for r in facts.relations}


def relation(identifier: str, *columns: str, schema: str = "raw_shop", **fields: object) -> RawRelation:
    return RawRelation.model_validate(
        {
            "schema": schema,
            "identifier": identifier,
            "columns": [
                RawColumn(name=name, data_type="integer", position=i) for i, name in enumerate(columns, 1)
            ],
            **fields,
        }
    )


def test_entity_is_the_singular_snake_case_table_name(shop: dict[str, RawRelation]) -> None:
    assert entity_of(shop["order_items"]) == "order_item"
    assert entity_of(shop["customers"]) == "customer"
    assert entity_of(relation("OrderItems", "id")) == "order_item"


VALIDITY = ("_fivetran_start", "_fivetran_end", "_fivetran_active")


def test_a_version_history_of_an_entity_with_no_table_is_that_entity() -> None:
    tables = [
        relation("conversation_history", "id", "state", *VALIDITY),
        relation("plan_versions", "id", "name", *VALIDITY),
        relation("account", "id"),
        relation("account_history", "id", "name", *VALIDITY),  # beside `account`: a table of its own
        relation("note_history", "id", "note_id", "updated_at"),  # no version of an id: an event log
        relation("conversation_part_history", "id", "conversation_id", *VALIDITY),
    ]
    assert entities_by_table(tables) == {
        "conversation_history": "conversation",
        "plan_versions": "plan",
        "account": "account",
        "account_history": "account_history",
        "note_history": "note_history",
        "conversation_part_history": "conversation_part",
    }
    # ... so `conversation_id` joins the conversations' history on its key.
    assert KeyEdge("conversation_part_history", "conversation_id", "conversation_history", "id", False) in (
        foreign_keys(tables)
    )


def test_two_histories_of_one_entity_take_neither_its_name() -> None:
    tables = [relation("contact_history", "id", *VALIDITY), relation("contact_versions", "id", *VALIDITY)]
    assert entities_by_table(tables) == {
        "contact_history": "contact_history",
        "contact_versions": "contact_version",
    }


def test_declared_primary_key_wins(shop: dict[str, RawRelation]) -> None:
    assert primary_key(shop["customers"]) == "id"
    declared = relation("orders", "id", "order_number", primary_key=["order_number"])
    assert primary_key(declared) == "order_number"


def test_id_column_is_the_key_when_none_is_declared(shop: dict[str, RawRelation]) -> None:
    assert shop["order_items"].primary_key == []
    assert primary_key(shop["order_items"]) == "id"
    assert primary_key(relation("orders", "customer_id", "ID")) == "ID"  # the raw spelling


def test_entity_id_column_is_the_key_without_an_id_column() -> None:
    assert primary_key(relation("order_items", "order_id", "order_item_id")) == "order_item_id"
    assert primary_key(relation("OrderItems", "orderId", "orderItemId")) == "orderItemId"


def test_id_is_preferred_over_entity_id() -> None:
    assert primary_key(relation("orders", "order_id", "id")) == "id"


def test_composite_primary_key_gives_none() -> None:
    composite = relation(
        "order_items", "id", "order_id", "line_number", primary_key=["order_id", "line_number"]
    )
    assert primary_key(composite) is None


def test_no_recognisable_key_gives_none() -> None:
    assert primary_key(relation("events", "event_name", "customer_id")) is None


def test_foreign_keys_of_the_shop(shop: dict[str, RawRelation]) -> None:
    edges = foreign_keys(list(shop.values()))
    assert edges == [
        KeyEdge("orders", "customer_id", "customers", "id", declared=True),
        KeyEdge("order_items", "order_id", "orders", "id", declared=False),
        KeyEdge("order_items", "product_id", "products", "id", declared=False),
        KeyEdge("payments", "order_id", "orders", "id", declared=False),
    ]


def test_declared_edge_is_not_inferred_a_second_time(shop: dict[str, RawRelation]) -> None:
    edges = [e for e in foreign_keys(list(shop.values())) if e.child == "orders"]
    assert len(edges) == 1
    assert edges[0].declared


def test_inferred_edge_points_at_the_parent_key_as_spelled() -> None:
    customers = relation("Customers", "CustomerId", "email")
    orders = relation("orders", "id", "customerId")
    assert foreign_keys([customers, orders]) == [
        KeyEdge("orders", "customerId", "Customers", "CustomerId", declared=False)
    ]


def test_no_edge_to_a_table_without_a_key(shop: dict[str, RawRelation]) -> None:
    keyless_products = relation("products", "sku", "name")
    relations = [shop["order_items"], keyless_products, shop["orders"]]
    edges = foreign_keys(relations)
    assert [e.parent for e in edges] == ["orders"]


def test_no_edge_for_an_id_column_naming_no_table(shop: dict[str, RawRelation]) -> None:
    orders = relation("orders", "id", "coupon_id", "store_id")
    assert foreign_keys([orders, shop["customers"]]) == []


def test_no_self_edge() -> None:
    employees = relation("employees", "employee_id", "name")
    assert primary_key(employees) == "employee_id"
    categories = relation("categories", "id", "category_id")  # category_id is not its own key here
    assert foreign_keys([employees, categories]) == []


def test_declared_key_across_schemas_is_ignored() -> None:
    regions = relation("regions", "id", "name")
    stores = relation(
        "stores",
        "id",
        "area_id",
        foreign_keys=[
            ForeignKey(columns=["area_id"], ref_schema="geo", ref_identifier="regions", ref_columns=["id"])
        ],
    )
    assert foreign_keys([regions, stores]) == []


def test_declared_composite_key_is_not_an_edge() -> None:
    lines = relation("order_lines", "order_id", "line_number")
    notes = relation(
        "line_notes",
        "id",
        "order_ref",
        "line_ref",
        foreign_keys=[
            ForeignKey(
                columns=["order_ref", "line_ref"],
                ref_schema="raw_shop",
                ref_identifier="order_lines",
                ref_columns=["order_id", "line_number"],
            )
        ],
    )
    assert foreign_keys([lines, notes]) == []


def test_declared_key_to_a_table_not_gathered_is_ignored(shop: dict[str, RawRelation]) -> None:
    assert foreign_keys([shop["orders"]]) == []


def test_column_declared_to_reference_another_schema_gets_no_inferred_edge(
    shop: dict[str, RawRelation],
) -> None:
    orders = shop["orders"].model_copy(
        update={
            "foreign_keys": [
                ForeignKey(
                    columns=["customer_id"], ref_schema="crm", ref_identifier="customers", ref_columns=["id"]
                )
            ]
        }
    )
    assert foreign_keys([shop["customers"], orders]) == []


def test_declared_key_without_referenced_columns_is_refused_or_ignored() -> None:
    document = json.loads(FACTS.read_text(encoding="utf-8"))
    document["relations"][1]["foreign_keys"][0]["ref_columns"] = []
    try:
        facts = parse_facts(json.dumps(document))
    except UsageError as error:
        assert "foreign_keys" in str(error)
        return
    assert not [e for e in foreign_keys(facts.relations) if e.declared]
