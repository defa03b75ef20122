"""Unit tests of cartridge_bridge.yaml_merge.merge_properties: add-only merges that keep the user's YAML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment
from ruamel.yaml import YAML

from cartridge_bridge.errors import ConflictError, UsageError
from cartridge_bridge.files.yaml_merge import FAST_DUMPER, dump_new_yaml, dump_yaml, merge_properties
from cartridge_bridge.sql.identifiers import neutralize

YAML_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "unit" / "yaml"
PATH = "models/staging/shop/_shop__models.yml"


def fixture(name: str) -> str:
    return (YAML_FIXTURES / name).read_text(encoding="utf-8")


def model(name: str = "stg_shop__orders", description: str = "One row per order.") -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "columns": [
            {
                "name": "order_id",
                "description": "Primary key of the order.",
                "data_type": "integer",
                "data_tests": ["unique", "not_null"],
            }
        ],
    }


ORDERS_BLOCK = """\
  - name: stg_shop__orders
    description: One row per order.
    columns:
      - name: order_id
        description: Primary key of the order.
        data_type: integer
        data_tests:
          - unique
          - not_null
"""


def test_new_file_is_written_in_dbt_layout() -> None:
    result = merge_properties(None, PATH, [model()], [], "fail")
    assert result.text == "models:\n" + ORDERS_BLOCK
    assert result.added == ["model stg_shop__orders"]
    assert (result.unchanged, result.replaced, result.kept) == ([], [], [])


def test_new_file_with_models_and_sources() -> None:
    source = {"name": "shop", "schema": "raw_shop", "tables": [{"name": "orders"}]}
    result = merge_properties(None, PATH, [model()], [source], "fail")
    assert YAML(typ="safe").load(result.text) == {"models": [model()], "sources": [source]}
    assert result.added == ["model stg_shop__orders", "source shop"]


def test_long_descriptions_stay_on_one_line() -> None:
    long = "word " * 60 + "end."
    result = merge_properties(None, PATH, [model(description=long)], [], "fail")
    assert f"    description: {long}\n" in result.text


def test_adding_a_model_keeps_the_users_file_byte_for_byte() -> None:
    existing = fixture("legacy_models.yml")
    result = merge_properties(existing, PATH, [model()], [], "fail")
    assert result.text == existing + ORDERS_BLOCK
    assert result.added == ["model stg_shop__orders"]


def test_merging_twice_changes_nothing_the_second_time() -> None:
    once = merge_properties(fixture("legacy_models.yml"), PATH, [model()], [], "fail").text
    twice = merge_properties(once, PATH, [model()], [], "fail")
    assert twice.text == once
    assert twice.unchanged == ["model stg_shop__orders"]
    assert twice.added == []


def test_identical_entry_leaves_the_text_untouched() -> None:
    existing = fixture("legacy_models.yml") + ORDERS_BLOCK
    result = merge_properties(existing, PATH, [model()], [], "fail")
    assert result.text is existing
    assert result.unchanged == ["model stg_shop__orders"]


def test_identical_entry_in_another_layout_counts_as_unchanged() -> None:
    existing = (
        "models:\n"
        "- name: stg_shop__orders\n"
        "  description: 'One row per order.'\n"
        "  columns: [{name: order_id, description: Primary key of the order., data_type: integer,"
        " data_tests: [unique, not_null]}]\n"
    )
    result = merge_properties(existing, PATH, [model()], [], "fail")
    assert result.text is existing
    assert result.unchanged == ["model stg_shop__orders"]


def test_differing_entry_fails_under_fail() -> None:
    existing = "models:\n" + ORDERS_BLOCK.replace("One row per order.", "Orders, edited by hand.")
    with pytest.raises(ConflictError) as caught:
        merge_properties(existing, PATH, [model()], [], "fail")
    message = str(caught.value)
    assert message.startswith(f"{PATH} already defines model stg_shop__orders differently")
    assert "--on-conflict skip" in message


def test_differing_entry_is_kept_under_skip() -> None:
    existing = "models:\n" + ORDERS_BLOCK.replace("One row per order.", "Orders, edited by hand.")
    result = merge_properties(existing, PATH, [model(), model("stg_shop__customers")], [], "skip")
    assert result.kept == ["model stg_shop__orders"]
    assert result.added == ["model stg_shop__customers"]
    assert result.text.startswith(existing)
    assert "Orders, edited by hand." in result.text


def test_differing_entry_alone_under_skip_leaves_the_text_untouched() -> None:
    existing = "models:\n" + ORDERS_BLOCK.replace("One row per order.", "Orders, edited by hand.")
    result = merge_properties(existing, PATH, [model()], [], "skip")
    assert result.text is existing
    assert result.kept == ["model stg_shop__orders"]


def test_differing_entry_is_replaced_under_overwrite() -> None:
    existing = "# header\nmodels:\n" + ORDERS_BLOCK.replace("One row per order.", "Orders, edited by hand.")
    result = merge_properties(existing, PATH, [model()], [], "overwrite")
    assert result.replaced == ["model stg_shop__orders"]
    assert result.text == "# header\nmodels:\n" + ORDERS_BLOCK
    assert "edited by hand" not in result.text


def test_adding_a_table_to_an_existing_source() -> None:
    existing = fixture("shop_sources.yml")
    source = {
        "name": "shop",
        "schema": "raw_shop",
        "description": "A description that differs from the user's is not a conflict.",
        "tables": [
            {"name": "customers", "description": "Registered shop customers."},
            {"name": "orders", "description": "Raw orders."},
        ],
    }
    result = merge_properties(existing, "models/_sources.yml", [], [source], "fail")
    assert result.added == ["source table shop.orders"]
    assert result.unchanged == ["source table shop.customers"]
    expected = existing.replace(
        "        description: Registered shop customers.\n",
        "        description: Registered shop customers.\n"
        "      - name: orders\n"
        "        description: Raw orders.\n",
    )
    assert result.text == expected


def test_adding_a_new_source_next_to_existing_ones() -> None:
    existing = fixture("shop_sources.yml")
    source = {"name": "stripe", "schema": "raw_stripe", "tables": [{"name": "charges"}]}
    result = merge_properties(existing, "models/_sources.yml", [], [source], "fail")
    assert result.added == ["source stripe"]
    assert (
        result.text
        == existing + "  - name: stripe\n    schema: raw_stripe\n    tables:\n      - name: charges\n"
    )


def test_differing_source_table_conflicts_with_its_full_name() -> None:
    source = {"name": "shop", "tables": [{"name": "customers", "description": "Someone else's words."}]}
    with pytest.raises(ConflictError, match=r"defines source table shop\.customers differently"):
        merge_properties(fixture("shop_sources.yml"), "models/_sources.yml", [], [source], "fail")


def test_empty_existing_file_is_treated_as_new() -> None:
    result = merge_properties("", PATH, [model()], [], "fail")
    assert result.text == "models:\n" + ORDERS_BLOCK


def test_invalid_yaml_is_refused_naming_the_path() -> None:
    with pytest.raises(UsageError, match=f"^{re.escape(PATH)} is not valid YAML: "):
        merge_properties("models:\n  - name: [unclosed\n", PATH, [model()], [], "fail")


@pytest.mark.parametrize("text", ["- name: stg_legacy\n", "just text\n", "42\n"])
def test_non_mapping_top_level_is_refused_naming_the_path(text: str) -> None:
    with pytest.raises(UsageError, match=f"^{re.escape(PATH)} is not a YAML mapping at its top level$"):
        merge_properties(text, PATH, [model()], [], "fail")


def test_comment_above_the_next_key_stays_with_it() -> None:
    existing = fixture("legacy_models_then_sources.yml")
    result = merge_properties(existing, PATH, [model()], [], "fail")
    assert "# The sources these models read; keep this comment with them.\nsources:\n" in result.text
    assert result.text.replace(ORDERS_BLOCK, "", 1) == existing


OLD_DIALECT = """\
version: 2

models:
  - name: stg_customers
    columns:
      - name: customer_id
        tests:
          - unique
          - not_null
"""
NEW_MODEL: dict[str, Any] = {
    "name": "stg_reviews",
    "data_tests": [{"dbt_utils.expression_is_true": {"arguments": {"expression": "rating >= 0"}}}],
    "columns": [
        {"name": "review_id", "data_tests": ["unique", "not_null"]},
        {
            "name": "order_id",
            "data_tests": [
                {
                    "relationships": {
                        "arguments": {"to": "ref('stg_orders')", "field": "order_id"},
                        "config": {"severity": "warn"},
                    }
                }
            ],
        },
    ],
}


def test_a_file_that_says_tests_gets_new_entries_with_tests() -> None:
    merged = merge_properties(OLD_DIALECT, "models/staging/schema.yml", [NEW_MODEL], [], "fail").text
    assert merged.startswith(OLD_DIALECT)
    assert "data_tests" not in merged
    added = YAML(typ="safe").load(merged)["models"][1]
    assert added["tests"] == [{"dbt_utils.expression_is_true": {"expression": "rating >= 0"}}]
    assert added["columns"][0]["tests"] == ["unique", "not_null"]
    # Arguments next to the test's name, as in dbt before 1.10 (the file nests none of its own).
    relationships = {"to": "ref('stg_orders')", "field": "order_id", "config": {"severity": "warn"}}
    assert added["columns"][1]["tests"] == [{"relationships": relationships}]
    # Merging again finds the entry as written: nothing changes.
    again = merge_properties(merged, "models/staging/schema.yml", [NEW_MODEL], [], "fail")
    assert (again.text, again.unchanged) == (merged, ["model stg_reviews"])


def test_a_tests_file_that_nests_arguments_keeps_them_nested() -> None:
    nesting = OLD_DIALECT + "      - name: email\n        tests:\n          - accepted_values:\n"
    nesting += "              arguments:\n                values: [a]\n"
    merged = merge_properties(nesting, "models/staging/schema.yml", [NEW_MODEL], [], "fail").text
    added = YAML(typ="safe").load(merged)["models"][1]
    assert added["tests"] == [{"dbt_utils.expression_is_true": {"arguments": {"expression": "rating >= 0"}}}]


@pytest.mark.parametrize("existing", [None, "", OLD_DIALECT.replace("tests:", "data_tests:")])
def test_other_files_get_data_tests(existing: str | None) -> None:
    merged = merge_properties(existing, "models/staging/schema.yml", [NEW_MODEL], [], "fail").text
    added = YAML(typ="safe").load(merged)["models"][-1]
    assert added == NEW_MODEL


MIXED = """\
sources:
- name: shop
  tables:
  - name: customers
# the models, as another hand indented them
models:
    - name: stg_old
      description: Old.
"""


def test_each_list_keeps_its_own_indent_and_every_other_byte() -> None:
    table = {"name": "orders", "identifier": "orders"}
    source = {"name": "crm", "tables": [{"name": "leads"}]}
    merged = merge_properties(MIXED, PATH, [{"name": "stg_new", "description": "New."}], [], "fail")
    assert merged.text == MIXED + "    - name: stg_new\n      description: New.\n"
    merged = merge_properties(
        MIXED, PATH, [{"name": "stg_new"}], [{"name": "shop", "tables": [table]}, source], "fail"
    )
    assert merged.text == (
        "sources:\n- name: shop\n  tables:\n  - name: customers\n"
        "  - name: orders\n    identifier: orders\n"  # into the existing source, at its tables' indent
        "- name: crm\n  tables:\n  - name: leads\n"
        "# the models, as another hand indented them\n"
        "models:\n    - name: stg_old\n      description: Old.\n    - name: stg_new\n"
    )
    reordered = MIXED.split("# the models")[1].split("\n", 1)[1] + MIXED.split("# the models")[0]
    merged = merge_properties(reordered, PATH, [], [source], "fail")
    assert merged.text == reordered + "- name: crm\n  tables:\n  - name: leads\n"


YAML_11_SPECIALS = ["yes", "no", "on", "off", "True", "null", "~", "1.0", "0x1f", "2020-01-01", "x: y"]


@pytest.mark.parametrize("existing", [None, "models:\n  - name: first\n"], ids=["new file", "merged"])
def test_values_yaml_11_would_misread_are_quoted_for_dbts_reader(existing: str | None) -> None:
    """dbt reads YAML with PyYAML (YAML 1.1): a plain `yes` is a boolean there, a plain `on` a boolean too."""
    import yaml as pyyaml

    model = {
        "name": "stg_flags",
        "columns": [
            {
                "name": "on",
                "data_tests": [{"accepted_values": {"arguments": {"values": YAML_11_SPECIALS}}}],
            }
        ],
    }
    text = merge_properties(existing, PATH, [model], [], "fail").text
    read = pyyaml.safe_load(text)["models"][-1]
    assert read["columns"][0]["name"] == "on"
    assert read["columns"][0]["data_tests"][0]["accepted_values"]["arguments"]["values"] == YAML_11_SPECIALS


JINJA = "{{ run_query('drop table x') }} {% if %} {# c #}"
# Strings a warehouse or a model may hand over, each a trap for some emitter: quotes, YAML indicators,
# line breaks of every kind YAML 1.1 knows, Jinja as neutralized, unicode beyond the BMP, YAML 1.1 specials.
AWKWARD_TEXTS = [
    'It\'s a "quoted" value: with a colon, # a hash, and a trailing colon:',
    "#starts with a hash",
    "line one\nline two\n",
    "windows\r\nbreaks",
    "next line\x85paragraph\u2029line\u2028end",
    "  leading and trailing spaces  ",
    "tab\there",
    "",
    "- looks like a list",
    "? looks like a key",
    ": looks like a value",
    "key: value",
    "[flow] {flow} &anchor *alias !tag %directive @at `tick` | > ",
    "ünïcödé ✓ 日本語 emoji 🎉",
    "a " * 3000 + "long one",
    neutralize(JINJA),
    *YAML_11_SPECIALS,
]


def awkward_properties(texts: list[str] = AWKWARD_TEXTS) -> dict[str, Any]:
    """Property-file data of many shapes: every text as a description, a value and a column name."""
    columns: list[dict[str, Any]] = [
        {
            "name": text or "empty",
            "description": text,
            "data_type": "text",
            "data_tests": [
                "not_null",
                {"accepted_values": {"arguments": {"values": [text, "x"], "quote": True}}},
                {
                    "relationships": {
                        "arguments": {"to": "ref('x')", "field": "id"},
                        "config": {"severity": "warn"},
                    }
                },
            ],
            "meta": {
                "numbers": [1, 2.5, -3],
                "flags": [True, False, None],
                "nested": [[1, [2]], []],
                "empty": {},
            },
        }
        for text in texts
    ]
    return {
        "version": 2,
        "models": [{"name": "stg_awkward", "description": text, "columns": columns} for text in texts[:3]],
        "sources": [{"name": "raw", "schema": "raw", "tables": [{"name": "t", "identifier": texts[0]}]}],
        "semantic_models": [],
    }


def test_a_new_file_reads_back_as_the_round_trip_librarys_text_does() -> None:
    """libyaml writes new files: dbt's reader gets the same data the round-trip library's text gave it."""
    import yaml as pyyaml

    data = awkward_properties()
    fast = dump_yaml(data)
    assert pyyaml.safe_load(fast) == data
    # The round-trip library writes YAML 1.2, where U+0085 is no line break: PyYAML reads it back as a space.
    same = awkward_properties([text for text in AWKWARD_TEXTS if "\x85" not in text])
    round_trip = dump_yaml(same, like="version: 2\n")  # a file that exists: ruamel writes it
    assert pyyaml.safe_load(dump_yaml(same)) == pyyaml.safe_load(round_trip) == same
    assert list(pyyaml.safe_load(fast)) == ["version", "models", "sources", "semantic_models"]
    assert "ünïcödé ✓ 日本語" in fast  # unicode kept as itself, not escaped
    jinja = next(
        column for column in pyyaml.safe_load(fast)["models"][0]["columns"] if "{{" in column["name"]
    )
    assert Environment().from_string(jinja["description"]).render() == JINJA  # dbt renders it as plain text
    assert f"description: {'a ' * 3000}long one\n" in fast  # never folded


def test_the_pure_python_emitter_writes_the_same_text_as_libyaml() -> None:
    """Without PyYAML's C extension the fallback writes the same bytes (libyaml escapes what is past U+FFFF)."""
    import yaml as pyyaml

    assert FAST_DUMPER is pyyaml.CSafeDumper  # this machine has libyaml: the comparison below means something
    data = awkward_properties()
    assert pyyaml.safe_load(dump_new_yaml(data, pyyaml.SafeDumper)) == pyyaml.safe_load(dump_new_yaml(data))
    bmp = awkward_properties([text for text in AWKWARD_TEXTS if max(text, default=" ") <= "\uffff"])
    assert dump_new_yaml(bmp, pyyaml.SafeDumper) == dump_new_yaml(bmp)


def test_a_new_file_keeps_dbts_layout_with_lists_indented_under_their_keys() -> None:
    """But for line breaks (escaped on one line) and past U+FFFF, the text is PyYAML's indented layout."""
    import yaml as pyyaml

    class Indented(pyyaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    one_line = [
        t
        for t in AWKWARD_TEXTS
        if not re.search("[\n\r\x85\u2028\u2029]", t) and max(t, default="") < "\uffff"
    ]
    data = json.loads(json.dumps(awkward_properties(one_line)))  # no shared lists: no anchors either way
    expected = pyyaml.dump(data, Dumper=Indented, sort_keys=False, width=10**6, allow_unicode=True)
    assert dump_yaml(data) == expected


def test_a_key_too_long_to_be_simple_still_reads_back() -> None:
    """A key over 128 characters is written as `? key`: the slow emitter takes over, the data stays the same."""
    import yaml as pyyaml

    data = {"models": [{"name": "m", "meta": {"k" * 200: ["a", "b"]}}]}
    assert pyyaml.safe_load(dump_yaml(data)) == data
