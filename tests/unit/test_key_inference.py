"""Unit tests of key inference from profile statistics: single, composite, bridge and history tables."""

from __future__ import annotations

import json

import pytest
from support import profiled_facts

from cartridge_bridge.context.key_checks import combination_checks, with_combination_counts
from cartridge_bridge.context.key_facts import HistoryFacts, KeyFacts, key_facts
from cartridge_bridge.context.keys import (
    MAX_COMBINATIONS,
    TableKey,
    composite_candidates,
    primary_key,
    table_key,
)
from cartridge_bridge.gather.facts import (
    ColumnProfile,
    CombinationCount,
    RawColumn,
    RawRelation,
    RelationProfile,
)
from cartridge_bridge.planning.rules.staged_columns import deleted_filter, is_active_marker

pytestmark = pytest.mark.unit


def profiled(
    identifier: str,
    rows: int | None,
    columns: dict[str, tuple[int, int]],
    combinations: dict[tuple[str, ...], int] | None = None,
    **fields: object,
) -> RawRelation:
    """A relation whose columns map to (null count, distinct count); rows None: not profiled."""
    return RawRelation.model_validate(
        {
            "schema": "raw",
            "identifier": identifier,
            "columns": [
                RawColumn(
                    name=name,
                    data_type="integer",
                    position=i,
                    profile=None
                    if rows is None
                    else ColumnProfile(null_count=nulls, distinct_count=distinct),
                )
                for i, (name, (nulls, distinct)) in enumerate(columns.items(), 1)
            ],
            "profile": None
            if rows is None
            else RelationProfile(
                row_count=rows,
                distinct_combinations=[
                    CombinationCount(columns=list(c), distinct_count=n)
                    for c, n in (combinations or {}).items()
                ],
            ),
            **fields,
        }
    )


def test_a_declared_key_wins_over_the_data() -> None:
    orders = profiled("orders", 3, {"id": (0, 1), "number": (0, 3)}, primary_key=["number"])
    assert table_key(orders) == TableKey(("number",), "declared")


def test_an_id_unique_and_not_null_on_the_data_is_the_key() -> None:
    assert table_key(profiled("orders", 3, {"id": (0, 3), "total": (0, 2)})) == TableKey(("id",), "data")


def test_a_column_named_as_the_table_is_a_key_when_unique() -> None:
    zones = profiled("time_zone", 2, {"time_zone": (0, 2), "standard_offset": (0, 1)})
    assert primary_key(zones) == "time_zone"


def test_without_a_profile_names_still_give_the_key() -> None:
    assert table_key(profiled("orders", None, {"id": (0, 0)})) == TableKey(("id",), "names")


def test_an_id_with_nulls_is_no_key() -> None:
    assert table_key(profiled("orders", 3, {"id": (1, 2), "total": (0, 3)})) == TableKey()


def test_a_repeated_id_with_a_version_column_is_a_history_table_keyed_on_its_latest_row() -> None:
    history = profiled("form_history", 14, {"id": (0, 3), "updated_at": (0, 14), "_fivetran_synced": (0, 9)})
    assert table_key(history) == TableKey(("id",), "data", ("updated_at",))


def test_fivetran_history_mode_orders_the_active_row_first() -> None:
    history = profiled("account", None, {"id": (0, 0), "_fivetran_active": (0, 0), "_fivetran_start": (0, 0)})
    assert table_key(history).latest_by == ("_fivetran_active", "_fivetran_start")


@pytest.mark.parametrize(
    ("version", "marker"),
    [
        ("_ab_cdc_updated_at", None),  # Airbyte CDC
        ("_sdc_sequence", None),  # Stitch
        ("_airbyte_extracted_at", None),
        ("dbt_valid_from", "dbt_valid_to"),  # a dbt snapshot loaded as raw
        ("effective_from", "effective_to"),
    ],
)
def test_other_loaders_versions_make_a_history_table_too(version: str, marker: str | None) -> None:
    columns = {"id": (0, 3), version: (0, 14)} | ({marker: (5, 9)} if marker else {})
    assert table_key(profiled("account", 14, columns)) == TableKey(("id",), "data", (version,))
    if marker:  # unprofiled, the marker alone says "every version is kept"
        named = profiled("account", None, {"id": (0, 0), version: (0, 0), marker: (0, 0)})
        assert table_key(named).latest_by == (version,)


def test_a_parent_id_with_an_ordinal_is_a_composite_key() -> None:
    tags = profiled("order_tag", 4, {"index": (0, 2), "order_id": (0, 2)}, {("order_id", "index"): 4})
    assert table_key(tags, frozenset({"order"})) == TableKey(("order_id", "index"), "data")
    unprofiled = profiled("order_tag", None, {"index": (0, 0), "order_id": (0, 0)})
    assert table_key(unprofiled).columns == ("order_id", "index")


def test_a_composite_the_data_refutes_is_not_taken() -> None:
    domains = profiled("domain_name", 9, {"index": (0, 1), "organization_id": (0, 4), "domain_name": (0, 9)})
    refuted = profiled(
        "domain_name", 9, {"index": (0, 1), "organization_id": (0, 4)}, {("organization_id", "index"): 4}
    )
    assert table_key(refuted) == TableKey()
    assert ("organization_id", "index") in composite_candidates(domains)


def test_a_discriminator_needs_the_data() -> None:
    columns = {"key": (0, 2), "order_id": (0, 2), "value": (0, 3)}
    assert table_key(profiled("order_url_tag", None, columns)) == TableKey()
    checked = profiled("order_url_tag", 3, columns, {("order_id", "key"): 3})
    assert table_key(checked) == TableKey(("order_id", "key"), "data")


def test_a_bridge_table_is_keyed_on_its_foreign_keys() -> None:
    entities = frozenset({"project", "task", "project_task"})
    bridge = profiled(
        "project_task", 3, {"project_id": (0, 1), "task_id": (0, 3)}, {("project_id", "task_id"): 3}
    )
    assert table_key(bridge, entities) == TableKey(("project_id", "task_id"), "data")
    empty = profiled("project_task", 0, {"project_id": (0, 0), "task_id": (0, 0)})
    assert table_key(empty, entities) == TableKey(("project_id", "task_id"), "names")


def test_a_unique_parent_id_keys_a_one_to_one_table_that_is_no_bridge() -> None:
    images = profiled("media_image", 5, {"media_id": (0, 5), "image_id": (0, 5), "width": (0, 2)})
    assert table_key(images, frozenset({"media", "media_image"})) == TableKey(("media_id",), "data")


def test_checks_ask_only_for_tables_without_a_confirmed_key() -> None:
    keyed = profiled("orders", 3, {"id": (0, 3)})
    tags = profiled("order_tag", 4, {"index": (0, 2), "order_id": (0, 2)})
    facts = profiled_facts(keyed, tags)
    checks = combination_checks(facts)
    assert checks == [
        {
            "database": None,
            "schema": "raw",
            "identifier": "order_tag",
            "combinations": [["order_id", "index"]],
        }
    ]
    printed = json.dumps(
        [{"schema": "raw", "identifier": "order_tag", "counts": [[["order_id", "index"], 4]]}]
    )
    counted = with_combination_counts(facts, printed)
    assert table_key(counted.relations[1]) == TableKey(("order_id", "index"), "data")
    assert counted.without_profile().relations[1].profile is None


def test_a_column_named_as_the_table_next_to_a_parent_id_is_a_value_not_a_key() -> None:
    domains = profiled("domain_name", 9, {"organization_id": (0, 4), "domain_name": (0, 9)})
    assert primary_key(domains) is None


def test_the_value_of_a_list_tells_a_parents_rows_apart_when_the_data_shows_it() -> None:
    # Every domain of an organization has index 0: the declared (organization_id) and the ordinal both
    # repeat; the value the list holds is what a row is.
    columns = {"index": (0, 1), "organization_id": (0, 4), "domain_name": (0, 9)}
    counted = {("organization_id", "index"): 4, ("organization_id", "domain_name"): 9}
    domains = profiled("domain_name", 9, columns, counted)
    assert ("organization_id", "domain_name") in composite_candidates(domains)
    assert table_key(domains) == TableKey(("organization_id", "domain_name"), "data")
    assert table_key(profiled("domain_name", None, columns)) == TableKey(
        ("organization_id", "index"), "names"
    )


def test_a_tag_list_is_keyed_on_its_parent_and_tag() -> None:
    tags = profiled(
        "organization_tag", 3, {"organization_id": (0, 2), "tag": (0, 3)}, {("organization_id", "tag"): 3}
    )
    assert table_key(tags, frozenset({"organization"})) == TableKey(("organization_id", "tag"), "data")
    repeated = profiled(
        "organization_tag", 3, {"organization_id": (0, 2), "tag": (0, 2)}, {("organization_id", "tag"): 2}
    )
    assert table_key(repeated, frozenset({"organization"})) == TableKey()


def test_a_list_whose_repeated_rows_are_copies_keeps_one_copy_in_staging() -> None:
    # The same tag twice on a ticket: every column but the loader's agrees, so nothing is lost.
    tags = profiled("ticket_tag", 4, {"tag": (0, 2), "ticket_id": (0, 2), "_fivetran_synced": (0, 2)})
    assert table_key(tags, frozenset({"ticket"})) == TableKey(
        ("ticket_id", "tag"), "data", ("_fivetran_synced",)
    )
    columns = {"tag": (0, 2), "ticket_id": (0, 2), "note": (0, 4), "_fivetran_synced": (0, 2)}
    counted = {("ticket_id", "tag"): 3, ("tag", "ticket_id", "note"): 4}
    differing = profiled("ticket_tag", 4, columns, counted)  # rows sharing (ticket, tag) differ on `note`
    assert table_key(differing, frozenset({"ticket"})) == TableKey()
    assert ("tag", "ticket_id", "note") in composite_candidates(differing)


def test_a_history_of_changes_is_keyed_on_its_version() -> None:
    columns = {
        "field_name": (0, 3),
        "ticket_id": (0, 2),
        "updated": (0, 5),
        "value": (0, 6),
        "user_id": (6, 0),
    }
    counted = {
        ("ticket_id", "field_name"): 4,
        ("ticket_id", "updated"): 5,
        ("ticket_id", "field_name", "updated"): 7,
    }
    history = profiled("ticket_field_history", 7, columns, counted)
    assert ("ticket_id", "field_name", "updated") in composite_candidates(history, frozenset({"ticket"}))
    key = TableKey(("ticket_id", "field_name", "updated"), "data")
    assert table_key(history, frozenset({"ticket"})) == key
    assert table_key(profiled("ticket_field_history", None, columns), frozenset({"ticket"})) == TableKey()


def test_a_history_with_copied_rows_is_keyed_on_its_version_after_keeping_one_copy() -> None:
    columns = {"field_name": (0, 3), "ticket_id": (0, 2), "updated": (0, 5), "value": (0, 6)}
    version = ("ticket_id", "field_name", "updated")
    counted = {version: 6, ("field_name", "ticket_id", "updated", "value"): 6}
    history = profiled("ticket_field_history", 7, columns, counted)
    assert table_key(history, frozenset({"ticket"})) == TableKey(version, "data", ("updated",))


def test_a_wide_table_asks_for_a_bounded_number_of_combinations() -> None:
    columns = {f"{p}_id": (0, 2) for p in "abcdefghij"} | {f"{n}_name": (0, 2) for n in "abcdefghij"}
    wide = profiled("wide", 4, columns | {"index": (0, 2), "updated_at": (0, 4), "created_at": (0, 4)})
    candidates = composite_candidates(wide, frozenset({"a", "b"}))
    assert len(candidates) == MAX_COMBINATIONS
    assert candidates[0] == ("a_id", "index")  # the likeliest first: a parent naming a table, an ordinal


# What the context decides from these: each key with how it is known (`key_facts`, read by every planner).


def test_a_history_of_five_rows_over_four_ids_is_keyed_on_the_id_completed_by_its_version() -> None:
    columns = {"id": (0, 4), "status": (0, 3), "_fivetran_synced": (0, 4)}
    checked = key_facts(profiled("account_history", 5, columns, {("id", "_fivetran_synced"): 5}))
    assert checked == KeyFacts(
        columns=["id"], how="checked", history=HistoryFacts(version_columns=["_fivetran_synced"])
    )
    assert checked.row_key == ["id", "_fivetran_synced"] and checked.grain == ["id"]
    assert not checked.primary  # the id names the account, not a row
    # Two versions synced at the same moment: the data shows no row per (id, version), so no history key.
    refuted = key_facts(profiled("account_history", 5, columns, {("id", "_fivetran_synced"): 4}))
    assert refuted is None or refuted.history is None
    # Not counted, but the version column alone is unique: so is any combination holding it.
    unique_version = {"id": (0, 4), "_fivetran_synced": (0, 5)}
    assert key_facts(profiled("account_history", 5, unique_version)).how == "checked"  # type: ignore[union-attr]


def test_the_history_row_key_is_counted_on_the_data() -> None:
    history = profiled("account_history", 5, {"id": (0, 4), "_fivetran_synced": (0, 4)})
    assert composite_candidates(history)[0] == ("id", "_fivetran_synced")


def test_a_history_known_by_its_markers_alone_is_named() -> None:
    columns = {"id": (0, 0), "_fivetran_active": (0, 0), "_fivetran_start": (0, 0)}
    found = key_facts(profiled("account", None, columns))
    assert found == KeyFacts(
        columns=["id"],
        how="named",
        history=HistoryFacts(version_columns=["_fivetran_active", "_fivetran_start"]),
    )


def test_a_declared_composite_key_passes_through() -> None:
    lines = profiled(
        "order_lines", 4, {"order_id": (0, 2), "line_number": (0, 3)}, primary_key=["order_id", "line_number"]
    )
    assert key_facts(lines) == KeyFacts(columns=["order_id", "line_number"], how="declared")


def test_a_key_from_names_alone_says_named_and_is_no_primary_key() -> None:
    found = key_facts(profiled("orders", None, {"id": (0, 0), "total": (0, 0)}))
    assert found == KeyFacts(columns=["id"], how="named") and not found.primary
    checked = key_facts(profiled("orders", 3, {"id": (0, 3), "total": (0, 2)}))
    assert checked == KeyFacts(columns=["id"], how="checked") and checked.primary


def test_a_name_guess_the_data_contradicts_is_refuted_and_keys_nothing() -> None:
    found = key_facts(profiled("orders", 3, {"id": (0, 2), "total": (0, 3)}))
    assert found == KeyFacts(columns=["id"], how="refuted")
    assert found.grain == [] and not found.primary
    assert key_facts(profiled("notes", 3, {"body": (0, 3)})) is None  # nothing suggests a key


def test_a_list_whose_repeated_rows_are_copies_is_checked_and_says_so() -> None:
    tags = profiled("ticket_tag", 4, {"tag": (0, 2), "ticket_id": (0, 2), "_fivetran_synced": (0, 2)})
    assert key_facts(tags, frozenset({"ticket"})) == KeyFacts(
        columns=["ticket_id", "tag"],
        how="checked",
        history=HistoryFacts(version_columns=["_fivetran_synced"], copies=True),
    )


def test_a_constant_id_is_no_history_key() -> None:
    # Every row repeats one id: keeping its latest version would keep one row of the table.
    constant = profiled("schedule", 5, {"id": (0, 1), "start_time": (0, 5), "_fivetran_synced": (0, 5)})
    assert table_key(constant).latest_by == ()
    varied = profiled("schedule", 5, {"id": (0, 2), "start_time": (0, 5), "_fivetran_synced": (0, 2)})
    assert table_key(varied).latest_by == ()  # (id, _fivetran_synced) not counted unique: no history either
    counted = profiled(
        "schedule", 5, {"id": (0, 2), "_fivetran_synced": (0, 2)}, {("id", "_fivetran_synced"): 5}
    )
    assert table_key(counted) == TableKey(("id",), "data", ("_fivetran_synced",))


def test_a_history_versioned_by_the_table_s_own_time_needs_that_time_unique_per_id() -> None:
    # The table's own version repeats per id: the loader's sync time does not stand in for it.
    columns = {"id": (0, 3), "updated_at": (0, 1), "_fivetran_synced": (0, 5)}
    assert table_key(profiled("inventory_level", 5, columns, {("id", "updated_at"): 3})).latest_by == ()
    assert table_key(profiled("inventory_level", 5, columns, {("id", "updated_at"): 5})).latest_by == (
        "updated_at",
    )


def test_an_active_flag_alone_is_no_history_but_a_deleted_marker() -> None:
    """Salesforce-like: `_fivetran_active` with no `_fivetran_start`/`_fivetran_end`, ids unique on the data (or not
    counted): one row per id, not a version history; staging leaves the inactive rows out."""
    for rows in (3, None):
        columns = {"id": (0, 3 if rows else 0), "_fivetran_active": (0, 2 if rows else 0)}
        assert table_key(profiled("task", rows, columns)) == TableKey(("id",), "data" if rows else "names")
    flag = RawColumn(name="_fivetran_active", data_type="boolean", position=1)
    assert (
        is_active_marker(flag)
        and deleted_filter(flag, '"_fivetran_active"') == 'coalesce("_fivetran_active", true)'
    )


def test_an_id_repeated_once_per_interval_is_keyed_on_the_id_and_the_intervals_start() -> None:
    # One schedule's four opening intervals: the id repeats, one constant sync time (no version), and each
    # (id, start_time) is one row.
    columns = {
        "id": (0, 1),
        "start_time": (0, 4),
        "end_time": (0, 4),
        "name": (0, 1),
        "_fivetran_synced": (0, 1),
    }
    schedule = profiled("schedule", 4, columns, {("id", "start_time"): 4, ("id", "_fivetran_synced"): 1})
    assert ("id", "start_time") in composite_candidates(schedule)
    assert table_key(schedule) == TableKey(("id", "start_time"), "data")
    # two intervals starting together: the pair is no key, and nothing else is taken
    overlapping = profiled(
        "schedule",
        4,
        {**columns, "start_time": (0, 3)},
        {("id", "start_time"): 3, ("id", "_fivetran_synced"): 1},
    )
    assert table_key(overlapping) == TableKey()
