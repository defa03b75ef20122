"""Unit tests of cartridge_bridge.sql.naming: snake_case, quoting, singular nouns and de-duplication."""

from __future__ import annotations

import pytest

from cartridge_bridge.sql.naming import (
    RESERVED_WORDS,
    dedupe,
    needs_quoting,
    singular,
    snake_case,
    without_prefix,
)


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("createdAt", "created_at"),
        ("CreatedAt", "created_at"),
        ("userID", "user_id"),
        ("HTTPResponse", "http_response"),
        ("HTTPResponseCode", "http_response_code"),
        ("SKU", "sku"),
        ("version2Name", "version2_name"),
        ("Order Date", "order_date"),
        ("  Order   Date  ", "order_date"),
        ("ORDER-ID", "order_id"),
        ("order--id", "order_id"),
        ("order__id", "order_id"),
        ("already_snake", "already_snake"),
        ("2fa_enabled", "_2fa_enabled"),
        ("1st Place", "_1st_place"),
        ("Ünïcode", "unicode"),
        ("café au lait", "cafe_au_lait"),
    ],
)
def test_snake_case(identifier: str, expected: str) -> None:
    assert snake_case(identifier) == expected


@pytest.mark.parametrize("identifier", ["", "   ", "!!!", "-_-", "日本"])
def test_snake_case_of_nothing_usable_is_a_placeholder(identifier: str) -> None:
    assert snake_case(identifier) == "column"


@pytest.mark.parametrize("identifier", ["createdAt", "Order Date", "HTTPResponse", "2fa", "Ünïcode", "!!!"])
def test_snake_case_is_idempotent_and_plain(identifier: str) -> None:
    once = snake_case(identifier)
    assert snake_case(once) == once
    assert once.isascii()
    assert not once[0].isdigit()


@pytest.mark.parametrize("word", ["order", "select", "user", "group", "from", "table"])
def test_reserved_words_need_quoting(word: str) -> None:
    assert word in RESERVED_WORDS
    assert needs_quoting(word)


@pytest.mark.parametrize(
    "identifier", ["Order", "createdAt", "ORDER_ID", "order date", "order-id", "1st", ""]
)
def test_anything_but_a_plain_lower_case_word_needs_quoting(identifier: str) -> None:
    assert needs_quoting(identifier)


@pytest.mark.parametrize("identifier", ["orders", "order_id", "_private", "x1", "user_value", "status"])
def test_plain_lower_case_words_need_no_quoting(identifier: str) -> None:
    assert not needs_quoting(identifier)


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("order_items", "order_item"),
        ("customers", "customer"),
        ("categories", "category"),
        ("addresses", "address"),
        ("boxes", "box"),
        ("people", "person"),
        ("stock_levels", "stock_level"),
        ("status", "status"),
        ("order_status", "order_status"),
        ("statuses", "status"),
        ("address", "address"),
        ("series", "series"),
    ],
)
def test_singular_inflects_the_last_word(noun: str, expected: str) -> None:
    assert singular(noun) == expected


@pytest.mark.parametrize("noun", ["bonus", "analysis", "sales_alias"])
def test_singular_keeps_nouns_that_are_already_singular(noun: str) -> None:
    assert singular(noun) == noun


def test_dedupe_suffixes_repeats_in_order() -> None:
    assert dedupe(["id", "name", "id", "id"]) == ["id", "name", "id_2", "id_3"]


def test_dedupe_leaves_unique_names_alone() -> None:
    names = ["order_id", "customer_id", "status"]
    assert dedupe(names) == names
    assert dedupe([]) == []


def test_dedupe_never_produces_a_name_twice_even_when_a_suffix_is_taken() -> None:
    names = ["a", "a", "a_2", "b", "a"]
    unique = dedupe(names)
    assert len(unique) == len(names)
    assert len(set(unique)) == len(unique)
    assert unique == ["a", "a_3", "a_2", "b", "a_4"]  # a real column `a_2` keeps its name


@pytest.mark.parametrize(
    ("identifier", "prefix", "expected"),
    [
        ("raw_orders", "raw_", "orders"),
        ("RAW_Orders", "raw_", "Orders"),
        ("raw-orders", "raw_", "orders"),
        ("raw_", "raw_", "raw_"),  # nothing would be left
        ("rawhide", "raw_", "rawhide"),
        ("orders", "raw_", "orders"),
        ("shopify_orders", "shopify_", "orders"),
        ("raw_orders", "", "raw_orders"),
    ],
)
def test_without_prefix(identifier: str, prefix: str, expected: str) -> None:
    assert without_prefix(identifier, prefix) == expected
