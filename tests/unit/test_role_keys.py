"""Unit tests of role-named foreign keys (`billing_customer_id`, `parent_id`) and their data check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import profiled_facts, shop_project
from support import relation_of_types as table

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.key_checks import containment_checks, with_contained_values
from cartridge_bridge.context.keys import KeyEdge, foreign_keys, role_candidates, role_target
from cartridge_bridge.context.project_context import build_context
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather import facts as raw
from cartridge_bridge.gather.manifest import Manifest, Metadata
from cartridge_bridge.planning.plan import AggregateSpec, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules

pytestmark = pytest.mark.unit

ENTITIES = frozenset({"customer", "payment_method", "method", "order", "user"})


CUSTOMER = table("customer", {"id": "bigint", "email": "text"})


def test_the_longest_entity_ending_the_name_is_the_parent_and_the_rest_the_role() -> None:
    assert role_target("billing_customer_id", ENTITIES, "order") == ("customer", "billing")
    assert role_target("default_payment_method_id", ENTITIES, "customer") == ("payment_method", "default")
    assert role_target("Billing_Customer_ID", ENTITIES, "order") == ("customer", "billing")


def test_parent_id_points_at_the_table_itself() -> None:
    assert role_target("parent_id", ENTITIES, "task") == ("task", "parent")
    assert role_target("parent_task_id", ENTITIES | {"task"}, "task") == ("task", "parent")


def test_a_name_shortened_to_the_end_of_one_entity_points_at_it_with_no_role() -> None:
    entities = ENTITIES | {"product_variant", "abandoned_checkout", "media_image"}
    assert role_target("variant_id", entities, "order_line") == ("product_variant", "")
    assert role_target("checkout_id", entities, "abandoned_checkout_discount_code") == (
        "abandoned_checkout",
        "",
    )
    assert role_target("image_id", entities, "media_image") is None  # its own table: no shortened self edge
    assert role_target("variant_id", entities | {"color_variant"}, "order_line") is None  # two could be meant


@pytest.mark.parametrize("name", ["customer_id", "id", "order", "assignee_id", "order_id", "requester_id"])
def test_no_role_in_plain_or_unknown_names(name: str) -> None:
    # `customer_id` is the name-only rule's; `assignee_id` names no entity (no alias table is guessed).
    assert role_target(name, ENTITIES, "order") is None


@given(
    role=st.lists(st.sampled_from(["billing", "default", "head", "old", "shipping"]), min_size=1, max_size=2),
    entity=st.sampled_from(sorted(ENTITIES)),
)
def test_a_role_and_an_entity_give_back_an_entity_ending_the_name(role: list[str], entity: str) -> None:
    name = f"{'_'.join(role)}_{entity}_id"
    target = role_target(name, ENTITIES, "order")
    assert target is not None
    found, found_role = target
    assert found in ENTITIES and name == f"{found_role}_{found}_id"
    assert len(found) >= len(entity)  # the longest suffix: `payment_method` before `method`


def test_candidates_need_a_parent_key_of_a_comparable_type() -> None:
    orders = table(
        "order",
        {
            "id": "bigint",
            "billing_customer_id": "integer",  # numbers compare with numbers
            "shipping_customer_id": "text",  # text against a bigint key: no candidate
            "parent_id": "bigint",
            "customer_id": "bigint",  # the name-only rule's
        },
    )
    assert role_candidates([CUSTOMER, orders]) == [
        KeyEdge("order", "billing_customer_id", "customer", "id", False, "billing"),
        KeyEdge("order", "parent_id", "order", "id", False, "parent"),
    ]


def test_no_candidate_to_a_parent_without_a_single_key_nor_from_a_declared_column() -> None:
    keyless = table("customer", {"email": "text"})
    orders = table("order", {"id": "bigint", "billing_customer_id": "bigint"})
    assert role_candidates([keyless, orders]) == []
    declared = raw.ForeignKey(
        columns=["billing_customer_id"], ref_schema="raw", ref_identifier="customer", ref_columns=["id"]
    )
    orders = table("order", {"id": "bigint", "billing_customer_id": "bigint"}, foreign_keys=[declared])
    assert [e for e in foreign_keys([CUSTOMER, orders]) if not e.declared] == []


@pytest.mark.parametrize(
    ("counts", "taken"),
    [
        ((20, 20), True),  # every value is a customer
        ((20, 19), True),  # 95%: an orphan or two from a late load
        ((20, 18), False),  # 90%: not this parent's key
        ((0, 0), False),  # no value: the data cannot tell
        ((2, 2), False),  # two small ids sit in any table of ids by chance
        ((3, 3), True),
    ],
)
def test_a_role_edge_is_taken_when_the_parent_key_holds_its_values(
    counts: tuple[int, int], taken: bool
) -> None:
    orders = table(
        "order",
        {"id": "bigint", "billing_customer_id": "bigint"},
        {("billing_customer_id", "customer", "id"): counts},
    )
    edge = KeyEdge("order", "billing_customer_id", "customer", "id", False, "billing")
    assert (edge in foreign_keys([CUSTOMER, orders])) is taken


def test_without_the_data_only_exact_names_make_edges() -> None:
    orders = table(
        "order", {"id": "bigint", "customer_id": "bigint", "billing_customer_id": "bigint"}, profiled=False
    )
    customers = table("customer", {"id": "bigint"}, profiled=False)
    assert foreign_keys([customers, orders]) == [KeyEdge("order", "customer_id", "customer", "id", False)]


def test_a_self_reference_is_an_edge_with_the_parent_role() -> None:
    tasks = table("task", {"id": "bigint", "parent_id": "bigint"}, {("parent_id", "task", "id"): (3, 3)})
    [edge] = foreign_keys([tasks])
    assert edge == KeyEdge("task", "parent_id", "task", "id", False, "parent")
    assert edge.self_reference


def test_checks_ask_once_for_every_candidate_and_fold_the_counts_back() -> None:
    orders = table("order", {"id": "bigint", "billing_customer_id": "bigint", "parent_id": "bigint"})
    facts = profiled_facts(CUSTOMER, orders)
    checks = containment_checks(facts)
    assert checks == [
        {
            "database": None,
            "schema": "raw",
            "identifier": "order",
            "column": "billing_customer_id",
            "ref_identifier": "customer",
            "ref_column": "id",
        },
        {
            "database": None,
            "schema": "raw",
            "identifier": "order",
            "column": "parent_id",
            "ref_identifier": "order",
            "ref_column": "id",
        },
    ]
    printed = json.dumps(
        [
            {**check, "ref_schema": "raw", "distinct_count": 4, "contained_count": n}
            for check, n in zip(checks, (4, 1), strict=True)
        ]
    )
    checked = with_contained_values(facts, printed)
    roles = [(e.column, e.role) for e in foreign_keys(checked.relations)]
    assert roles == [("billing_customer_id", "billing")]  # parent_id: 1 of 4 values is an order
    assert checked.without_profile().relations[1].profile is None


def test_unprofiled_facts_ask_for_no_check() -> None:
    orders = table("order", {"id": "bigint", "billing_customer_id": "bigint"}, profiled=False)
    customers = table("customer", {"id": "bigint"}, profiled=False)
    facts = raw.WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=[customers, orders]
    )
    assert containment_checks(facts) == []


def test_output_the_bridge_cannot_read_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="contained_values"):
        with_contained_values(profiled_facts(CUSTOMER), '[{"schema": "raw"}]')


def test_a_self_reference_is_tested_in_staging_but_aggregated_by_no_mart(tmp_path: Path) -> None:
    tasks = table(
        "task",
        {"id": "bigint", "parent_id": "bigint", "project_id": "bigint"},
        {("parent_id", "task", "id"): (3, 3)},
    )
    projects = table("project", {"id": "bigint", "name": "text"})
    facts = profiled_facts(projects, tasks)
    manifest = Manifest(metadata=Metadata(project_name="shop"))
    plan = plan_with_rules(build_context(shop_project(tmp_path), manifest, facts, Conventions()))
    staging = next(a.spec for a in plan.actions if isinstance(a.spec, StagingSpec) and a.spec.table == "task")
    assert isinstance(staging, StagingSpec)
    parent = next(c for c in staging.columns if c.name == "parent_id")
    assert [(t.name, t.field) for t in parent.tests] == [("relationships", "task_id")]
    groups = [a.spec.group_by for a in plan.actions if isinstance(a.spec, AggregateSpec)]
    assert groups == [["project_id"]]


def test_documents_and_collections_are_never_checked_against_a_key() -> None:
    customers = table("customer", {"id": "jsonb"})
    orders = table("order", {"id": "bigint", "billing_customer_id": "jsonb", "parent_id": "bigint[]"})
    assert role_candidates([customers, orders]) == []


def test_role_keys_follow_a_stripped_prefix(tmp_path: Path) -> None:
    """With `raw_` stripped, `orders.billing_customer_id` → `customers`: the data's counts follow the rename."""
    customers = table("raw_customers", {"id": "bigint", "email": "text"})
    orders = table(
        "raw_orders",
        {"id": "bigint", "billing_customer_id": "bigint"},
        {("billing_customer_id", "raw_customers", "id"): (5, 5)},
    )
    manifest = Manifest(metadata=Metadata(project_name="shop"))
    tested = {}
    for prefix in ("", "raw_"):
        folder = tmp_path / (prefix or "none")
        folder.mkdir()
        context = build_context(
            shop_project(folder),
            manifest,
            profiled_facts(customers, orders),
            Conventions(strip_prefix=prefix),
        )
        plan = plan_with_rules(context)
        staging = next(
            a.spec
            for a in plan.actions
            if isinstance(a.spec, StagingSpec) and a.spec.table.endswith("orders")
        )
        assert isinstance(staging, StagingSpec)
        billing = next(c for c in staging.columns if c.name == "billing_customer_id")
        tested[prefix] = [(t.name, t.to) for t in billing.tests]
    assert tested[""] == []  # `raw_customer` does not end `billing_customer_id`: no parent by name
    assert tested["raw_"] == [("relationships", "stg_raw__customers")]


class _Steps:
    def __init__(self) -> None:
        self.said: list[str] = []

    def step(self, message: str) -> None:
        self.said.append(message)


def test_a_failing_role_key_check_loses_only_the_role_keys() -> None:
    """The containment query reads parents the profile did not; when it fails, the profile stays."""
    from types import SimpleNamespace

    from cartridge_bridge.context.gathering import _with_foreign_key_counts
    from cartridge_bridge.errors import DbtError

    def refuse(macro: str, args: object) -> str:
        raise DbtError("permission denied for table customer\nmore of dbt's lines")

    orders = table("order", {"id": "bigint", "billing_customer_id": "bigint"})
    facts = profiled_facts(CUSTOMER, orders)
    project = SimpleNamespace(
        manifest=SimpleNamespace(has_macro=lambda package, name: True),
        dbt=SimpleNamespace(run_operation=refuse),
    )
    progress = _Steps()
    kept = _with_foreign_key_counts(project, facts, progress)  # type: ignore[arg-type]
    assert kept == facts  # profiled counts intact
    assert progress.said == [
        "foreign keys not checked on the data (permission denied for table customer); they come from names only"
    ]


TAX_RATE = table("tax_rate", {"id": "integer", "name": "text"})


@pytest.mark.parametrize(
    ("counts", "taken"),
    [
        ((4, 4), True),  # every value is a tax rate's id spelled as text: the cast cannot fail
        ((4, 3), False),  # `tax_rate_NY` among them: a cast to integer would fail the build
        ((0, 0), False),  # no value: the data cannot tell
        (None, False),  # not checked
    ],
)
def test_a_named_key_of_text_against_an_integer_key_needs_every_value_to_convert(
    counts: tuple[int, int] | None, taken: bool
) -> None:
    contained = {("tax_rate_id", "tax_rate", "id"): counts} if counts else None
    lines = table("invoice_line", {"id": "integer", "tax_rate_id": "text"}, contained)
    edge = KeyEdge("invoice_line", "tax_rate_id", "tax_rate", "id", False)
    assert (edge in foreign_keys([TAX_RATE, lines])) is taken


def test_a_named_key_cast_up_to_a_text_key_needs_no_data() -> None:
    codes = table("currency", {"id": "text"}, profiled=False)
    prices = table("price", {"id": "integer", "currency_id": "integer"}, profiled=False)
    assert foreign_keys([codes, prices]) == [KeyEdge("price", "currency_id", "currency", "id", False)]


def test_narrowing_keys_are_checked_as_text_and_documents_never() -> None:
    lines = table("invoice_line", {"id": "integer", "tax_rate_id": "text", "customer_id": "jsonb"})
    checks = containment_checks(profiled_facts(TAX_RATE, CUSTOMER, lines))
    assert checks == [
        {
            "database": None,
            "schema": "raw",
            "identifier": "invoice_line",
            "column": "tax_rate_id",
            "ref_identifier": "tax_rate",
            "ref_column": "id",
            "as_text": True,
        }
    ]
    assert foreign_keys([TAX_RATE, CUSTOMER, lines]) == []  # json = bigint has no equality to rest on


def test_a_text_key_of_converting_values_is_cast_to_its_parents_type(tmp_path: Path) -> None:
    contained = {("tax_rate_id", "tax_rate", "id"): (2, 2)}
    lines = table("invoice_line", {"id": "integer", "tax_rate_id": "varchar(20)"}, contained)
    facts = profiled_facts(TAX_RATE, lines)
    manifest = Manifest(metadata=Metadata(project_name="shop"))
    plan = plan_with_rules(build_context(shop_project(tmp_path), manifest, facts, Conventions()))
    staging = next(
        a.spec for a in plan.models() if isinstance(a.spec, StagingSpec) and a.spec.table == "invoice_line"
    )
    assert isinstance(staging, StagingSpec)
    column = next(c for c in staging.columns if c.source_column == "tax_rate_id")
    assert column.cast_to == "integer"
    assert [t.to for t in column.tests if t.name == "relationships"] == [
        next(a.name for a in plan.models() if isinstance(a.spec, StagingSpec) and a.spec.table == "tax_rate")
    ]


def test_a_column_named_bare_after_another_entity_is_a_candidate_the_data_decides() -> None:
    assert role_target("customer", ENTITIES, "order") == ("customer", "")
    assert role_target("Customer", ENTITIES, "order") == ("customer", "")
    assert role_target("order", ENTITIES, "order") is None  # its own entity: a name, not a reference
    holding = table("order", {"id": "bigint", "customer": "bigint"}, {("customer", "customer", "id"): (4, 4)})
    refuted = table("order", {"id": "bigint", "customer": "bigint"}, {("customer", "customer", "id"): (4, 1)})
    edge = KeyEdge("order", "customer", "customer", "id", False, "")
    assert edge in foreign_keys([CUSTOMER, holding])
    assert edge not in foreign_keys([CUSTOMER, refuted])


def test_a_bare_reference_is_staged_as_its_entitys_id_and_joined_under_that_name(tmp_path: Path) -> None:
    lines = table(
        "line",
        {"id": "bigint", "account": "bigint", "amount": "numeric"},
        {("account", "account", "id"): (3, 3)},
    )
    accounts = table("account", {"id": "bigint", "name": "text"})
    facts = profiled_facts(accounts, lines)
    manifest = Manifest(metadata=Metadata(project_name="shop"))
    plan = plan_with_rules(build_context(shop_project(tmp_path), manifest, facts, Conventions()))
    staging = next(a.spec for a in plan.actions if isinstance(a.spec, StagingSpec) and a.spec.table == "line")
    assert isinstance(staging, StagingSpec)
    account = next(c for c in staging.columns if c.source_column == "account")
    assert account.name == "account_id"
    assert [(t.name, t.field) for t in account.tests] == [("relationships", "account_id")]
    groups = [a.spec.group_by for a in plan.actions if isinstance(a.spec, AggregateSpec)]
    assert groups == [["account_id"]]
