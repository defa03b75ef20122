"""Unit tests of foreign keys checked on the data: the evidence rule (`checked`, `refuted`, `named`) with its
counts, and what each planner does with a refuted one (a relationships test at warn that says why)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from support import profiled_facts, shop_project
from support import relation_of_types as table

from cartridge_bridge.cli.views import foreign_key_text
from cartridge_bridge.config import Conventions
from cartridge_bridge.context.key_checks import containment_checks
from cartridge_bridge.context.key_facts import schema_keys
from cartridge_bridge.context.project_context import build_context
from cartridge_bridge.gather import facts as raw
from cartridge_bridge.gather.manifest import Manifest, Metadata
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.llm.answers import ColumnTest, ColumnTests, DataTestsAnswer
from cartridge_bridge.planning.llm.conversion import data_tests_answer, with_tests
from cartridge_bridge.planning.llm.prompt_data import table_facts
from cartridge_bridge.planning.plan import DataTest, ExecutionPlan, SourceSpec, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules

pytestmark = pytest.mark.unit

ACCOUNT = table("account", {"id": "bigint", "name": "text"})
EDGE = ("account_id", "account", "id")


def subscriptions(counts: tuple[int, int] | None) -> raw.RawRelation:
    """`subscription.account_id` → `account.id` by name, with the data's counts when given."""
    return table("subscription", {"id": "bigint", "account_id": "bigint"}, {EDGE: counts} if counts else None)


@pytest.mark.parametrize(
    ("counts", "how", "shown"),
    [
        (None, "named", None),  # not counted (no profile, or the check failed)
        ((4, 4), "checked", None),
        ((40, 39), "checked", (40, 39)),  # 97.5% held: checked, its one orphan still said
        ((4, 1), "refuted", (4, 1)),
        ((2, 1), "refuted", (2, 1)),  # a missing value is missing however few were counted
        ((1, 0), "refuted", (1, 0)),
        ((2, 2), "named", None),  # every value held, too few of them to tell (ids by chance)
        ((0, 0), "named", None),  # the column is always null: nothing to say
    ],
)
def test_the_data_s_counts_say_how_a_name_made_foreign_key_is_known(
    counts: tuple[int, int] | None, how: str, shown: tuple[int, int] | None
) -> None:
    [edge] = schema_keys([ACCOUNT, subscriptions(counts)]).foreign_keys
    assert (edge.child, edge.column, edge.parent, edge.how, edge.counts) == (
        "subscription",
        "account_id",
        "account",
        how,
        shown,
    )


def test_a_declared_foreign_key_stays_declared_whatever_the_counts() -> None:
    declared = raw.ForeignKey(
        columns=["account_id"], ref_schema="raw", ref_identifier="account", ref_columns=["id"]
    )
    child = table(
        "subscription", {"id": "bigint", "account_id": "bigint"}, {EDGE: (4, 1)}, foreign_keys=[declared]
    )
    [edge] = schema_keys([ACCOUNT, child]).foreign_keys
    assert (edge.how, edge.counts) == ("declared", None)


def test_every_name_made_foreign_key_is_counted_two_type_families_as_text() -> None:
    codes = table("currency", {"id": "text"})
    prices = table("price", {"id": "bigint", "account_id": "bigint", "currency_id": "integer"})
    checks = containment_checks(profiled_facts(ACCOUNT, codes, prices))
    assert [(c["column"], c["ref_identifier"], c.get("as_text", False)) for c in checks] == [
        ("account_id", "account", False),
        ("currency_id", "currency", True),  # integer = text does not compare on PostgreSQL
    ]


def _plan(tmp_path: Path, counts: tuple[int, int] | None) -> ExecutionPlan:
    facts = profiled_facts(ACCOUNT, subscriptions(counts))
    manifest = Manifest(metadata=Metadata(project_name="shop"))
    return plan_with_rules(build_context(shop_project(tmp_path), manifest, facts, Conventions()))


def _staged(plan: ExecutionPlan, table_name: str) -> StagingSpec:
    return next(
        a.spec for a in plan.models() if isinstance(a.spec, StagingSpec) and a.spec.table == table_name
    )


def test_a_refuted_foreign_key_is_tested_at_warn_with_its_counts_and_still_joined(tmp_path: Path) -> None:
    plan = _plan(tmp_path, (4, 1))
    column = next(c for c in _staged(plan, "subscription").columns if c.name == "account_id")
    [test] = [t for t in column.tests if t.name == "relationships"]
    parent = next(a.name for a in plan.models() if a.name.endswith("account"))
    assert (test.to, test.severity, test.relaxed_reason) == (parent, "warn", None)
    assert test.note is not None
    assert test.note.startswith(
        f"3 of 4 distinct values of account_id are not keys of {parent} in the raw data"
    )
    assert "in the raw data 3 of its 4 distinct values are not account keys" in (column.description or "")
    # The sources YAML states the same of the raw column.
    source = next(a.spec for a in plan.actions if isinstance(a.spec, SourceSpec))
    raw_column = next(
        c
        for t in source.tables
        if t.identifier == "subscription"
        for c in t.columns
        if c.name == "account_id"
    )
    assert raw_column.description == column.description


def test_a_foreign_key_the_data_holds_is_tested_at_error(tmp_path: Path) -> None:
    column = next(
        c for c in _staged(_plan(tmp_path, (4, 4)), "subscription").columns if c.name == "account_id"
    )
    [test] = [t for t in column.tests if t.name == "relationships"]
    assert (test.severity, test.note) == ("error", None)
    assert "raw data" not in (column.description or "")


def test_the_prompt_states_a_refuted_foreign_key_with_its_counts() -> None:
    child = subscriptions((4, 1))
    keys = schema_keys([ACCOUNT, child])
    declared = {"account": "raw.account", "subscription": "raw.subscription"}
    facts = table_facts(child, "raw.subscription", "stg_raw__subscription", keys, declared, False)
    [edge] = facts.foreign_keys
    dumped = edge.model_dump(exclude_none=True)
    assert dumped == {
        "columns": ["account_id"],
        "references": "raw.account",
        "ref_columns": ["id"],
        "how": "refuted",
        "distinct_values": 4,
        "missing_from_parent": 3,
    }


def test_an_answer_keeps_a_relationships_test_at_warn_only_with_a_reason(tmp_path: Path) -> None:
    relationships = {"name": "relationships", "to": "stg_account", "field": "account_id"}
    with pytest.raises(ValidationError, match="severity warn needs a `reason`"):
        ColumnTest.model_validate({**relationships, "severity": "warn"})
    with pytest.raises(ValidationError, match="only with severity warn"):
        ColumnTest.model_validate({**relationships, "reason": "orphans"})
    with pytest.raises(ValidationError, match="1 to 200 characters"):
        ColumnTest.model_validate({**relationships, "severity": "warn", "reason": "x" * 201})
    kept = ColumnTest.model_validate(
        {**relationships, "severity": "warn", "reason": " 3 of 4\n values missing "}
    )
    spec = _staged(_plan(tmp_path, (4, 4)), "subscription")
    tested, _ = with_tests(spec, DataTestsAnswer(columns=[ColumnTests(column="account_id", tests=[kept])]))
    [test] = next(c for c in tested.columns if c.name == "account_id").tests
    assert (test.severity, test.relaxed_reason, test.note) == ("warn", "3 of 4 values missing", None)


def test_a_planned_warn_test_is_answered_at_warn_with_its_note(tmp_path: Path) -> None:
    """What the rules mirror (tests/llm_answers.py) answers for a refuted key, and a repair prompt shows."""
    spec = _staged(_plan(tmp_path, (4, 1)), "subscription")
    answer = data_tests_answer(spec, [])
    [relationships] = [
        t for c in answer.columns if c.column == "account_id" for t in c.tests if t.name == "relationships"
    ]
    assert relationships.severity == "warn"
    assert relationships.reason is not None and relationships.reason.startswith("3 of 4 distinct values")
    unique = next(t for c in answer.columns for t in c.tests if t.name == "unique")
    assert (unique.severity, unique.reason) == (None, None)


def test_cartridge_context_says_how_each_foreign_key_is_known() -> None:
    refuted, checked = (
        schema_keys([ACCOUNT, subscriptions(counts)]).foreign_keys[0] for counts in ((4, 1), (4, 4))
    )
    assert foreign_key_text(refuted) == "refuted: 3 of 4 values missing"
    assert foreign_key_text(checked) == "checked"


def test_a_test_answered_twice_on_a_column_is_written_once_and_a_plan_with_it_is_refused(
    tmp_path: Path,
) -> None:
    """dbt refuses a project with two tests of one name on a column (a relay answer listed `not_null` twice):
    the LLM planner keeps one, and a plan file holding both is refused naming the column."""
    not_null = ColumnTest.model_validate({"name": "not_null"})
    plan = _plan(tmp_path, (4, 4))
    spec = _staged(plan, "subscription")
    answer = DataTestsAnswer(columns=[ColumnTests(column="account_id", tests=[not_null, not_null])])
    tested, _ = with_tests(spec, answer)
    assert [t.name for t in next(c for c in tested.columns if c.name == "account_id").tests] == ["not_null"]
    action = next(a for a in plan.models() if a.spec is spec)
    column = next(c for c in spec.columns if c.name == "account_id")
    column.tests = [DataTest(name="not_null"), DataTest(name="not_null", severity="warn")]
    (tmp_path / "again").mkdir()
    context = build_context(
        shop_project(tmp_path / "again"),
        Manifest(metadata=Metadata(project_name="shop")),
        profiled_facts(ACCOUNT, subscriptions((4, 4))),
        Conventions(),
    )
    lines = [p.line() for p in plan_problems(plan, context)]
    assert any(
        f"{action.name}: spec.columns[account_id].tests[1]" in line and "not_null test twice" in line
        for line in lines
    ), lines
