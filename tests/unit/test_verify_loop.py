"""The verify loop through its interfaces: a recording writer, a scripted prover and real or scripted repairers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.dbt.runner import BuildSummary, NodeResult
from cartridge_bridge.errors import VerificationError
from cartridge_bridge.planning.plan import ExecutionPlan, SourceSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.verify.failures import BuildFailure, build_failures
from cartridge_bridge.verify.loop import prove_with_repairs
from cartridge_bridge.verify.prove import failure_message
from cartridge_bridge.verify.repair import RelaxFailingTests, RepairOutcome, Unrepairable
from cartridge_bridge.verify.rerun import rerun_selection


@dataclass
class RecordingWriter:
    """Writes nothing; remembers each plan it was asked to write and each rollback."""

    writes_files: bool = True
    written: list[ExecutionPlan] = field(default_factory=list)
    rollbacks: int = 0
    set_asides: int = 0
    proofs_started: int = 0
    commits: int = 0

    def write(self, plan: ExecutionPlan) -> bool:
        self.written.append(plan)
        return self.writes_files

    def proving(self) -> None:
        self.proofs_started += 1

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    def set_aside(self) -> None:
        self.set_asides += 1


@dataclass
class ScriptedProver:
    """Answers each proof with the next build (or raises the next error) from its script."""

    script: list[BuildSummary | Exception | None]
    proved: list[ExecutionPlan] = field(default_factory=list)
    selections: list[list[str] | None] = field(default_factory=list)

    def prove(self, plan: ExecutionPlan, only: list[str] | None = None) -> BuildSummary | None:
        self.proved.append(plan)
        self.selections.append(only)
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class RecordingProgress:
    steps: list[str] = field(default_factory=list)

    def step(self, message: str) -> None:
        self.steps.append(message)


@dataclass
class AlwaysRepairs:
    """Claims a repair every time it is asked, so only the round limit stops the loop."""

    calls: int = 0

    def repair(self, plan: ExecutionPlan, failures: list[BuildFailure]) -> RepairOutcome:
        self.calls += 1
        return RepairOutcome(plan, [f"tweak {self.calls}"], summary=f"tweak {self.calls}")


def _node(
    name: str, status: str, message: str | None = None, failures: int | None = None, **extra: str
) -> NodeResult:
    kind = "test" if name.startswith(("unique_", "not_null_", "relationships_")) else "model"
    return NodeResult(
        unique_id=f"{kind}.shop.{name}", resource_type=kind, name=name, status=status,
        message=message, failures=failures, **extra,
    )  # fmt: skip


def _build(*nodes: NodeResult) -> BuildSummary:
    success = not any(n.status in ("error", "fail") for n in nodes)
    return BuildSummary(success=success, nodes=list(nodes), errors=[], warnings=[])


PASSED = _build(_node("stg_shop__orders", "success"), _node("unique_stg_shop__orders_order_id", "pass"))
DUPLICATE_KEYS = _build(
    _node("stg_shop__orders", "success"),
    _node(
        "unique_stg_shop__orders_order_id", "fail", message="Got 2 results, configured to fail if != 0",
        failures=2, tested_model="stg_shop__orders", tested_column="order_id", test_name="unique",
        file_path="models/staging/shop/_shop__models.yml",
    ),
)  # fmt: skip
BROKEN_MODEL = _build(
    _node(
        "stg_shop__orders", "error", file_path="models/staging/shop/stg_shop__orders.sql",
        message="Database Error in model stg_shop__orders (models/staging/shop/stg_shop__orders.sql)\n"
        "  division by zero\n  compiled code at target/run/shop/models/staging/shop/stg_shop__orders.sql",
    ),
    _node("stg_shop__customers", "error", message="Database Error\n  permission denied for schema raw"),
    _node("unique_stg_shop__orders_order_id", "skipped"),
)  # fmt: skip


def test_a_passing_build_is_written_once_and_kept(context: ProjectContext) -> None:
    plan, writer, prover = plan_with_rules(context), RecordingWriter(), ScriptedProver([PASSED])
    verified = prove_with_repairs(plan, writer, prover, RelaxFailingTests(), RecordingProgress(), 1)
    assert verified.written and verified.build is PASSED and verified.plan is plan
    assert (len(writer.written), writer.rollbacks, verified.repairs) == (1, 0, [])
    assert (writer.proofs_started, writer.commits) == (1, 1)  # marked applied only after the proof


def test_a_failing_data_test_is_relaxed_and_the_repaired_plan_rebuilt(context: ProjectContext) -> None:
    plan, writer = plan_with_rules(context), RecordingWriter()
    prover, progress = ScriptedProver([DUPLICATE_KEYS, PASSED]), RecordingProgress()
    verified = prove_with_repairs(plan, writer, prover, RelaxFailingTests(), progress, 1)
    assert verified.repairs == ["stg_shop__orders.order_id: unique (2 failing rows)"]
    assert writer.written == prover.proved == [plan, verified.plan]
    assert (writer.proofs_started, writer.commits, writer.set_asides, writer.rollbacks) == (2, 1, 1, 0)
    # The second round builds only the relaxed test, on what the first left in the warehouse.
    assert prover.selections == [None, ["unique_stg_shop__orders_order_id"]]
    assert verified.plan is not plan and verified.build == PASSED
    assert progress.steps == ["relax 1 data tests that fail on today's data, and rebuild"]


def test_a_model_error_restores_the_project_and_names_the_node(context: ProjectContext) -> None:
    writer = RecordingWriter()
    with pytest.raises(VerificationError) as raised:
        prove_with_repairs(
            plan_with_rules(context),
            writer,
            ScriptedProver([BROKEN_MODEL]),
            RelaxFailingTests(),
            RecordingProgress(),
            1,
        )
    assert str(raised.value) == (
        "dbt build failed on model stg_shop__orders (models/staging/shop/stg_shop__orders.sql): division by zero "
        "(the model itself failed; relaxing data tests cannot fix that); and 1 more: stg_shop__customers; "
        "the project was restored"
    )
    assert writer.rollbacks == 1 and len(writer.written) == 1


def test_the_loop_stops_after_its_repair_rounds(context: ProjectContext) -> None:
    writer, repairer = RecordingWriter(), AlwaysRepairs()
    prover = ScriptedProver([DUPLICATE_KEYS] * 3)
    with pytest.raises(VerificationError, match=r"\(still failing after 2 repair rounds\)"):
        prove_with_repairs(plan_with_rules(context), writer, prover, repairer, RecordingProgress(), 2)
    assert (repairer.calls, len(prover.proved), writer.set_asides, writer.rollbacks) == (2, 3, 3, 1)


def test_no_repair_rounds_means_the_first_failure_is_final(context: ProjectContext) -> None:
    writer, repairer = RecordingWriter(), AlwaysRepairs()
    with pytest.raises(VerificationError, match=r"unique_stg_shop__orders_order_id .*\(repair_rounds is 0\)"):
        prove_with_repairs(
            plan_with_rules(context),
            writer,
            ScriptedProver([DUPLICATE_KEYS]),
            repairer,
            RecordingProgress(),
            0,
        )
    assert repairer.calls == 0 and writer.rollbacks == 1


def test_a_proof_that_raises_rolls_back_and_reraises(context: ProjectContext) -> None:
    writer = RecordingWriter()
    prover = ScriptedProver([VerificationError("the generated files do not parse")])
    with pytest.raises(VerificationError, match="do not parse"):
        prove_with_repairs(
            plan_with_rules(context), writer, prover, RelaxFailingTests(), RecordingProgress(), 1
        )
    assert writer.rollbacks == 1


def test_nothing_written_means_nothing_to_prove(context: ProjectContext) -> None:
    writer, prover = RecordingWriter(writes_files=False), ScriptedProver([])
    verified = prove_with_repairs(
        plan_with_rules(context), writer, prover, RelaxFailingTests(), RecordingProgress(), 1
    )
    assert not verified.written and verified.build is None and prover.proved == []


def test_a_build_that_fails_without_a_failed_node_quotes_dbt() -> None:
    build = BuildSummary(success=False, nodes=[], errors=["Runtime Error\n  could not connect"], warnings=[])
    assert build_failures(build) == []
    assert failure_message(build, []) == (
        "dbt build failed and the project was restored: Runtime Error; could not connect"
    )


def test_the_message_names_a_few_of_many_failures() -> None:
    nodes = [
        _node(
            f"m{i}",
            "error",
            file_path=f"models/m{i}.sql",
            message=f"Runtime Error in model m{i} (models/m{i}.sql)\n  boom {i}",
        )
        for i in range(8)
    ]
    build = _build(*nodes)
    last = build_failures(build)[-1]
    message = failure_message(build, [Unrepairable(last, "why not")])
    assert message == (
        "dbt build failed on model m7 (models/m7.sql): boom 7 (why not); "
        "and 7 more: m0, m1, m2, m3, m4, …; the project was restored"
    )


def test_a_failure_keeps_dbts_whole_message_and_the_compiled_sql() -> None:
    node = _node(
        "stg_shop__orders",
        "error",
        message="Compilation Error in model x (models/x.sql)\n  a\n  b",
        compiled_code="select 1",
    )
    (failure,) = build_failures(_build(node))
    assert failure.message == node.message and failure.compiled_sql == "select 1"
    assert failure.cause == "a" and failure.status == "error"


def test_a_repair_round_selects_what_did_not_pass_and_each_rewritten_model_with_what_reads_it(
    context: ProjectContext,
) -> None:
    plan = plan_with_rules(context)
    build = _build(
        _node("stg_shop__orders", "success"),
        _node("unique_stg_shop__orders_order_id", "fail", failures=2, tested_model="stg_shop__orders",
              tested_column="order_id", test_name="unique"),
        _node("fct_orders", "skipped"),
        _node("not_null_stg_shop__orders_order_id", "pass"),
    )  # fmt: skip
    relaxed = RelaxFailingTests().repair(plan, build_failures(build)).plan
    assert relaxed is not None
    # Relaxing changes a test's severity only: nothing that passed is built again.
    assert rerun_selection(build, plan, relaxed) == ["unique_stg_shop__orders_order_id", "fct_orders"]
    rewritten = relaxed.model_copy(deep=True)
    model = next(a for a in rewritten.models() if a.name == "stg_shop__customers")
    assert not isinstance(model.spec, SourceSpec)
    model.spec.columns.pop()
    assert rerun_selection(build, plan, rewritten)[-1] == "stg_shop__customers+"


def test_a_later_partial_build_replaces_the_results_it_reran() -> None:
    merged = DUPLICATE_KEYS.then(
        _build(_node("unique_stg_shop__orders_order_id", "warn"), _node("extra", "success"))
    )
    assert [(n.name, n.status) for n in merged.nodes] == [
        ("stg_shop__orders", "success"),
        ("unique_stg_shop__orders_order_id", "warn"),
        ("extra", "success"),
    ]
    assert merged.success


def test_a_rebuilt_models_test_the_repair_renamed_leaves_the_merged_build() -> None:
    # The first build: a relationships test failed on the wrong parent; the repair pointed it elsewhere, which
    # renames it, and rebuilt the model with all its tests.
    first = _build(
        _node("dim_accounts", "success"),
        _node("relationships_dim_accounts_account_id__ref_wrong_", "fail", failures=1, tested_model="dim_accounts",
              tested_column="account_id", test_name="relationships"),
        _node("not_null_stg_shop__orders_order_id", "fail", failures=1, tested_model="stg_shop__orders",
              tested_column="order_id", test_name="not_null"),
    )  # fmt: skip
    later = _build(
        _node("dim_accounts", "success"),
        _node("relationships_dim_accounts_account_id__ref_right_", "pass", tested_model="dim_accounts"),
    )
    merged = first.then(later)
    assert [(n.name, n.status) for n in merged.nodes] == [
        ("dim_accounts", "success"),
        ("not_null_stg_shop__orders_order_id", "fail"),  # its model was not rebuilt: the failure stands
        ("relationships_dim_accounts_account_id__ref_right_", "pass"),
    ]
