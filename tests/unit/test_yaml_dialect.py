"""The project's YAML dialect: read from its property files, and followed in files created and appended to."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ruamel.yaml.util import load_yaml_guess_indent
from unit.test_rules_marts import table
from unit.test_rules_measures import with_values

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.convention_evidence import apply_pinned
from cartridge_bridge.context.convention_rules import _yaml_dialect, infer_conventions
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import UsageError
from cartridge_bridge.files.yaml_merge import flow_strings, list_indents, mapping_indent, merge_properties
from cartridge_bridge.gather.manifest import read_manifest
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.planning.rules.staging import accepted_values
from cartridge_bridge.render.plan_files import render_plan

PROJECTS = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
MODEL = {
    "name": "int_a",
    "data_tests": [{"cartridge.expression_is_true": {"arguments": {"expression": "n >= 0"}}}],
    "columns": [
        {
            "name": "a_id",
            "data_tests": ["unique", {"relationships": {"arguments": {"to": "ref('b')", "field": "b_id"}}}],
        }
    ],
}
FOUR_SPACES = """\
version: 2

models:
    - name: orders
      columns:
          - name: customer_id
            tests:
                - relationships:
                      to: ref('customers')
                      field: customer_id
"""


def test_the_classic_style_projects_files_say_tests_version_2_and_no_types() -> None:
    name = "classic_style"
    project_file = yaml.safe_load((PROJECTS / name / "dbt_project.yml").read_text())
    found = infer_conventions(read_manifest(PROJECTS / name / "manifest.json"), project_file, PROJECTS / name)
    values = found.conventions(min_confidence=0.5)
    assert (values.yaml_test_key, values.yaml_version_header, values.yaml_column_types) == (
        "tests",
        True,
        False,
    )
    assert found.yaml_test_key.evidence.basis == "property files"
    assert found.yaml_test_key.evidence.examples == ["models/marts/schema.yml", "models/staging/schema.yml"]
    # Without the project's folder nothing is read: the defaults, with no evidence.
    blind = infer_conventions(read_manifest(PROJECTS / name / "manifest.json"), project_file)
    assert (blind.yaml_test_key.value, blind.yaml_test_key.evidence.total) == ("data_tests", 0)


@pytest.mark.parametrize(
    ("text", "indents"),
    [
        ("models:\n  - name: x\n    columns:\n      - name: a\n", (4, 2)),
        (FOUR_SPACES, (6, 4)),
        ("models:\n-   name: x\n    columns:\n    -   name: a\n", (4, 0)),
        ("models:\n- name: x\n  columns:\n  - name: a\n", (2, 0)),
        ("models:\n    -   name: x\n        columns:\n            -   name: a\n", (8, 4)),
        ("models: []\n", None),
    ],
)
def test_list_indents_are_read_from_the_lines_as_ruamel_guesses_them(
    text: str, indents: tuple[int, int] | None
) -> None:
    assert list_indents(text) == indents
    if indents is not None:
        assert load_yaml_guess_indent(text)[1:] == indents


@pytest.mark.parametrize(
    ("text", "width"),
    [
        (FOUR_SPACES, 4),
        ("a:\n  b: 1\n", 2),
        ("models:\n  - name: x\n    config:\n        tags: [a]\n", 4),
        ("a: 1\n", None),
    ],
)
def test_mapping_indent_is_measured_from_a_key_to_its_nested_keys(text: str, width: int | None) -> None:
    assert mapping_indent(text) == width


def test_a_new_file_in_the_projects_dialect() -> None:
    model = {
        "name": "int_a",
        "tests": MODEL["data_tests"],
        "columns": [{"name": "a_id", "tests": MODEL["columns"][0]["data_tests"]}],  # type: ignore[index]
    }
    path = "models/intermediate/schema.yml"
    text = merge_properties(None, path, [model], [], "fail", version=2, indent=(6, 4, 4)).text
    assert text.startswith(
        "version: 2\n\nmodels:\n    - name: int_a\n      tests:\n          - cartridge.expression_is_true:\n"
    )
    assert (
        "\n                - relationships:\n                      arguments:\n                          to: ref('b')\n"
        in text
    )


def test_a_new_file_in_dbts_layout_is_unchanged_by_the_dialect_defaults() -> None:
    plain = merge_properties(None, "m.yml", [MODEL], [], "fail").text
    assert merge_properties(None, "m.yml", [MODEL], [], "fail", None, None, None, (4, 2, 2)).text == plain
    assert plain.startswith("models:\n  - name: int_a\n    data_tests:\n")


def test_appended_entries_take_the_files_own_tests_key_and_mapping_indent() -> None:
    model = {
        "name": "stg_b",
        "columns": [
            {
                "name": "b_id",
                "data_tests": [{"relationships": {"arguments": {"to": "ref('c')", "field": "c_id"}}}],
            }
        ],
    }
    merged = merge_properties(FOUR_SPACES, "schema.yml", [model], [], "fail").text
    assert merged.startswith(FOUR_SPACES)
    assert merged[len(FOUR_SPACES) :] == (
        "    - name: stg_b\n"
        "      columns:\n"
        "          - name: b_id\n"
        "            tests:\n"
        "                - relationships:\n"
        "                      to: ref('c')\n"
        "                      field: c_id\n"
    )
    # A `data_tests:` file in a project that says `tests:` keeps its own key for what is appended to it.
    own = "models:\n  - name: a\n    data_tests:\n      - unique\n"
    said_tests = {"name": "b", "tests": ["unique"]}
    assert (
        merge_properties(own, "x.yml", [said_tests], [], "fail").text
        == own + "  - name: b\n    data_tests:\n      - unique\n"
    )


STATUSES = table(
    "shipments",
    {"id": "integer", "status": "text", "note": "text"},
    rows=6,
    distinct={"id": 6, "status": 2, "note": 2},
)


def test_accepted_values_take_every_value_the_profile_read() -> None:
    relation = with_values(STATUSES, "status", {"delivered": 4, "in_transit": 2})
    status = relation.column("status")
    assert status is not None
    [test] = accepted_values(relation, status, "postgres")
    assert (test.name, test.values) == ("accepted_values", ["delivered", "in_transit"])
    note = with_values(relation, "note", {"a": 1, "b": 5}).column("note")
    assert note is not None and accepted_values(relation, note, "postgres") == []  # free text by its name


def test_no_accepted_values_when_a_value_is_missing_or_no_literal() -> None:
    partial = with_values(STATUSES, "status", {"delivered": 4, "in_transit": 2})
    column = partial.column("status")
    assert column is not None and column.profile is not None
    fewer = column.model_copy(update={"profile": column.profile.model_copy(update={"distinct_count": 3})})
    assert accepted_values(partial, fewer, "postgres") == []  # a third value the profile did not read
    broken = with_values(STATUSES, "status", {"ok": 4, "bad\x00": 2})
    assert accepted_values(broken, broken.column("status"), "postgres") == []  # type: ignore[arg-type]


def test_greenfield_conventions_keep_todays_files() -> None:
    defaults = Conventions()
    assert (defaults.yaml_test_key, defaults.yaml_version_header, defaults.yaml_column_types) == (
        "data_tests",
        False,
        True,
    )
    assert (defaults.yaml_sequence_indent, defaults.yaml_sequence_offset, defaults.yaml_mapping_indent) == (
        4,
        2,
        2,
    )
    assert not (defaults.test_mart_relationships or defaults.test_accepted_values)


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for item in node for k in _keys(item)}
    return set()


def test_rendered_entries_follow_the_render_settings(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    entries = [e for f in render_plan(plan) if f.kind == "yaml" for e in (*f.models, *f.sources)]
    assert {"data_type", "data_tests"} <= _keys(entries) and "tests" not in _keys(entries)  # today's files
    house = plan.render.model_copy(update={"yaml_column_types": False, "yaml_test_key": "tests"})
    files = [f for f in render_plan(plan, house) if f.kind == "yaml"]
    keys = _keys([e for f in files for e in (*f.models, *f.sources)])
    assert "tests" in keys and not keys & {"data_type", "data_tests"}
    assert {(f.version, f.indent) for f in files} == {(None, (4, 2, 2))}
    headed = plan.render.model_copy(update={"yaml_version_header": True, "yaml_sequence_indent": 6})
    assert {(f.version, f.indent) for f in render_plan(plan, headed) if f.kind == "yaml"} == {(2, (6, 2, 2))}


def test_flow_values_are_read_and_written_as_the_project_writes_them() -> None:
    assert inferred_flow("values: ['a', 'b']\n") == (True, 1)
    assert inferred_flow("values:\n  - a\n") == (False, 1)
    values = flow_strings(["DHL", "Kim''s Post"])
    model = {"name": "s", "columns": [{"name": "c", "tests": [{"accepted_values": {"values": values}}]}]}
    text = merge_properties(None, "s.yml", [model], [], "fail").text
    assert "values: ['DHL', 'Kim''''s Post']\n" in text
    read = yaml.safe_load(text)["models"][0]["columns"][0]["tests"][0]["accepted_values"]["values"]
    assert read == ["DHL", "Kim''s Post"]  # the SQL literal's body, as dbt pastes it between quotes
    with_tests = "models:\n  - name: a\n    tests:\n      - unique\n"
    appended = merge_properties(with_tests, "s.yml", [model], [], "fail").text
    assert appended.startswith(with_tests) and appended.endswith("values: ['DHL', 'Kim''''s Post']\n")


def inferred_flow(text: str) -> tuple[bool, int]:
    found = _yaml_dialect([("models/schema.yml", text)])["yaml_flow_values"]
    return found.value, found.evidence.total


def test_a_pinned_list_indent_left_of_its_dash_is_one_clear_error() -> None:
    inferred = infer_conventions(read_manifest(PROJECTS / "classic_style" / "manifest.json"), {"name": "x"})
    with pytest.raises(
        UsageError,
        match=r"conventions.yaml_sequence_offset: 2 leaves no room before yaml_sequence_indent \(3\)",
    ):
        apply_pinned(inferred, {"yaml_sequence_indent": 3})
    assert (
        apply_pinned(inferred, {"yaml_sequence_indent": 6, "yaml_sequence_offset": 4})
        .values()
        .yaml_sequence_offset
        == 4
    )
