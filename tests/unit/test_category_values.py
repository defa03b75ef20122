"""The category columns whose values generate reads after the profile, and the count splits they make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from unit.test_rules_marts import columns_of, marts, plan_of, table
from unit.test_rules_measures import CHARGES, CUSTOMERS, sums, with_values

from cartridge_bridge.context.category_values import category_checks, is_category, with_category_values
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import ProfileSettings, WarehouseFacts
from cartridge_bridge.planning.plan import AggregateSpec, ConditionalAggregate, output_columns
from cartridge_bridge.planning.rules.sum_conditions import value_condition

ORDERS = table(
    "orders",
    {
        "id": "integer",
        "customer_id": "integer",
        "status": "text",  # 3 values over 50 rows: a category
        "fulfillment_state": "varchar",  # 2 values
        "currency": "text",  # one value on every row: still a category, its name says so
        "note": "text",  # free text, even with few values
        "name": "text",  # a label
        "sku": "text",  # a key by its name
        "code": "text",  # a value on every row, 5 rows of 50: not few
        "tags": "text",  # 40 distinct values: too many
        "quantity": "integer",  # a number: counted, not a category
        "_fivetran_synced": "text",  # the loader's
    },
    rows=50,
    distinct={
        "id": 50,
        "status": 3,
        "fulfillment_state": 2,
        "currency": 1,
        "note": 4,
        "name": 5,
        "sku": 7,
        "code": 50,
        "tags": 40,
        "quantity": 6,
        "_fivetran_synced": 2,
    },
)


def facts_of(*relations: object) -> WarehouseFacts:
    return WarehouseFacts(
        cartridge_gather_version=1,
        adapter_type="postgres",
        schemas=["raw"],
        relations=list(relations),  # type: ignore[arg-type]
        profile=ProfileSettings(top_values_limit=0),
    )


def test_only_text_columns_with_few_repeated_values_and_no_key_or_free_text_name_are_read() -> None:
    chosen = [c.name for c in ORDERS.columns if is_category(ORDERS, c)]
    assert chosen == ["status", "fulfillment_state", "currency"]
    empty = table("refunds", {"id": "integer", "status": "text"}, rows=1, distinct={"status": 1})
    empty = empty.model_copy(update={"profile": empty.profile.model_copy(update={"row_count": 0})})  # type: ignore[union-attr]
    checks = category_checks(facts_of(ORDERS, empty))  # a table with no rows: nothing asked
    assert checks == [
        {"database": None, "schema": "raw", "identifier": "orders", "columns": chosen},
    ]


def test_a_state_on_every_row_of_a_small_table_is_still_read_and_a_label_is_not() -> None:
    few = table("payments", {"id": "integer", "status": "text", "label_text": "text"}, rows=3,
                distinct={"id": 3, "status": 3, "label_text": 3})  # fmt: skip
    assert [c.name for c in few.columns if is_category(few, c)] == ["status"]


def test_the_values_land_under_each_columns_profile_and_a_bad_output_is_named() -> None:
    printed = json.dumps(
        [{"schema": "raw", "identifier": "orders", "values": {"status": [{"value": "paid", "count": 40},
                                                                          {"value": "void", "count": 10}]}}]
    )  # fmt: skip
    facts = with_category_values(facts_of(ORDERS), printed)
    status = facts.relations[0].column("status")
    assert status is not None and status.profile is not None and status.profile.top_values is not None
    assert [(v.value, v.count) for v in status.profile.top_values] == [("paid", 40), ("void", 10)]
    assert status.profile.distinct_count == 3  # the profile's own count is kept
    assert facts.relations[0].column("name").profile.top_values is None  # type: ignore[union-attr]
    with pytest.raises(UsageError, match=r"cartridge\.category_values"):
        with_category_values(facts_of(ORDERS), '[{"schema": "raw"}]')


def test_a_flag_s_values_are_read_even_the_loader_s() -> None:
    """One distinct value of `_fivetran_deleted` may be all true or all false: what a filter on it keeps."""
    flags = table("collections", {"id": "integer", "_fivetran_deleted": "boolean", "is_published": "boolean"},
                  rows=3, distinct={"id": 3, "_fivetran_deleted": 1, "is_published": 2})  # fmt: skip
    assert [c.name for c in flags.columns if is_category(flags, c)] == ["_fivetran_deleted", "is_published"]


def test_a_status_holding_identifiers_is_no_category() -> None:
    """`current_status` holding the hash of the last status update names things one by one: nothing to split by."""
    printed = json.dumps(
        [{"schema": "raw", "identifier": "orders", "values": {
            "status": [{"value": "752e3db7a1c04f7e9b3d2c1a0f9e8d7c", "count": 30},
                       {"value": "2b0c8a5e-4f1d-4c2a-9e7b-1d3f5a7c9e0b", "count": 20}],
            "fulfillment_state": [{"value": "shipped", "count": 49}, {"value": "0123456789abcdef01", "count": 1}]}}]
    )  # fmt: skip
    facts = with_category_values(facts_of(ORDERS), printed)
    status, state = facts.relations[0].column("status"), facts.relations[0].column("fulfillment_state")
    assert status is not None and status.profile is not None and status.profile.top_values is None
    # One odd value among real states leaves the states read.
    assert state is not None and state.profile is not None and state.profile.top_values is not None


def intermediate_aggregates(plan: object) -> dict[str, ConditionalAggregate | None]:
    return {
        c.name: c.aggregate
        for a in plan.actions  # type: ignore[attr-defined]
        if isinstance(a.spec, AggregateSpec)
        for c in output_columns(a.spec)
    }


def test_a_childs_count_is_split_by_each_value_of_its_status_at_the_parent(tmp_path: Path) -> None:
    charges = with_values(CHARGES, "status", {"succeeded": 7, "failed": 2, "pending": 1})
    plan, _ = plan_of(tmp_path, CUSTOMERS, charges)
    aggregates = intermediate_aggregates(plan)
    assert aggregates["number_of_charges_succeeded"] == ConditionalAggregate(
        function="count", where="status = 'succeeded'"
    )
    assert {n for n in aggregates if n.startswith("number_of_charges_")} == {
        "number_of_charges_succeeded",
        "number_of_charges_failed",
        "number_of_charges_pending",
    }
    customer = columns_of(next(a for n, a in marts(plan).items() if "customer" in n))
    assert customer["number_of_charges_failed"].startswith("coalesce(")  # no charge: 0 failed
    # The successful-state sum fires from the same values.
    assert list(sums(plan).values()) == ["sum(case when (status in ('succeeded')) then amount end)"]


def test_a_type_with_too_many_values_or_values_that_make_no_name_is_not_split(tmp_path: Path) -> None:
    many = with_values(CHARGES, "status", {f"state{i}": 1 for i in range(7)})
    unnamed = with_values(CHARGES, "status", {"1": 3, "2": 4})
    clashing = with_values(CHARGES, "status", {"Paid": 3, "paid": 4})
    for charges in (many, unnamed, clashing):
        plan, _ = plan_of(tmp_path, CUSTOMERS, charges)
        assert not [n for n in intermediate_aggregates(plan) if n.startswith("number_of_charges_")]


def test_a_value_read_from_the_data_is_escaped_or_refused_never_pasted(tmp_path: Path) -> None:
    assert value_condition("status", "o'neil", "postgres") == "status = 'o''neil'"
    assert value_condition("status", "done -- or not", "postgres") is None  # a comment marker: refused
    assert value_condition("status", "{{ run_query('drop') }}", "postgres") is None
    assert value_condition("status", "a{%b", "duckdb") is None
    assert value_condition("status", "line\nbreak", "postgres") is None
    # A quote on an adapter whose escaping cartridge does not know is refused.
    assert value_condition("status", "o'neil", "some_adapter") is None
    hostile = with_values(CHARGES, "status", {"paid": 3, "{{ x }}": 4})
    plan, _ = plan_of(tmp_path, CUSTOMERS, hostile)
    assert not [n for n in intermediate_aggregates(plan) if n.startswith("number_of_charges_")]
    quoted = with_values(CHARGES, "status", {"won't pay": 3, "paid": 4})
    plan, _ = plan_of(tmp_path, CUSTOMERS, quoted)
    wheres = {a.where for a in intermediate_aggregates(plan).values() if a is not None}
    assert {"status = 'won''t pay'", "status = 'paid'"} <= wheres
    assert "number_of_charges_won_t_pay" in intermediate_aggregates(plan)


DISCOUNTS = table(
    "order_discount_codes",
    {"id": "integer", "customer_id": "integer", "amount": "numeric", "type": "text"},
    rows=10,
)


def test_an_amount_is_summed_per_type_and_a_padded_copy_of_a_type_falls_in_none(tmp_path: Path) -> None:
    discounts = with_values(DISCOUNTS, "type", {"percentage": 5, "shipping": 3, "percentage ": 1, "fixed": 1})
    plan, _ = plan_of(tmp_path, CUSTOMERS, discounts)
    aggregates = intermediate_aggregates(plan)
    by_type = {n: a for n, a in aggregates.items() if a is not None and a.function == "sum"}
    assert {a.where for a in by_type.values()} == {
        "type = 'percentage'",
        "type = 'shipping'",
        "type = 'fixed'",
    }, by_type  # `'percentage '` lands in no column, as an exact match leaves it
    assert all(a.column == "amount" for a in by_type.values())
    # The plain sum over every row is still there, beside the sums per type.
    assert "sum(amount)" in sums(plan).values()


def test_an_amount_is_never_summed_per_state(tmp_path: Path) -> None:
    charges = with_values(CHARGES, "status", {"succeeded": 7, "refunded": 3})
    plan, _ = plan_of(tmp_path, CUSTOMERS, charges)
    assert [a.where for a in intermediate_aggregates(plan).values() if a and a.function == "sum"] == [
        "status in ('succeeded')"
    ]


def test_a_state_beside_a_city_is_an_address_and_splits_nothing(tmp_path: Path) -> None:
    contacts = table(
        "contacts", {"id": "integer", "customer_id": "integer", "city": "text", "state": "text"}, rows=10
    )
    contacts = with_values(contacts, "state", {"New Jersey": 6, "Ohio": 4})
    plan, _ = plan_of(tmp_path, CUSTOMERS, contacts)
    assert not [n for n in intermediate_aggregates(plan) if n.startswith("number_of_contacts_")]
    without_city = table("contacts", {"id": "integer", "customer_id": "integer", "state": "text"}, rows=10)
    plan, _ = plan_of(tmp_path, CUSTOMERS, with_values(without_city, "state", {"open": 6, "closed": 4}))
    assert "number_of_contacts_open" in intermediate_aggregates(plan)


def test_a_successful_authorization_or_refund_is_no_money_taken(tmp_path: Path) -> None:
    transactions = table(
        "transactions",
        {"id": "integer", "customer_id": "integer", "amount": "numeric", "status": "text", "kind": "text"},
        rows=10,
    )
    transactions = with_values(transactions, "status", {"success": 8, "failure": 2})
    transactions = with_values(transactions, "kind", {"authorization": 4, "capture": 4, "refund": 2})
    plan, _ = plan_of(tmp_path, CUSTOMERS, transactions)
    assert list(sums(plan).values()) == [
        "sum(case when (status in ('success') and (kind is null or kind not in ('authorization', 'refund')))"
        " then amount end)"
    ]
    # A table of refunds only keeps them: each is the table's own money.
    only = with_values(transactions, "kind", {"refund": 10})
    plan, _ = plan_of(tmp_path, CUSTOMERS, only)
    assert list(sums(plan).values()) == ["sum(case when (status in ('success')) then amount end)"]
