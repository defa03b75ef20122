"""What failed in a dbt build, one typed record per node, as repairers and error messages read it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from cartridge_bridge.dbt.runner import BuildSummary, NodeResult

# dbt opens a node's message with a header ("Database Error in model x (models/x.sql)") and may close it
# with where the compiled code lives; the cause is what lies between.
_HEADER = re.compile(r"^[A-Za-z][\w ]* [Ee]rror( in \w+ \S+( \(.*\))?)?:?$")
_TRAILER = re.compile(r"^compiled (code|sql) at ", re.IGNORECASE)


@dataclass(frozen=True)
class BuildFailure:
    """One node that errored, or one data test that failed, in a `dbt build`."""

    unique_id: str
    name: str
    resource_type: str  # model, test, seed, snapshot…
    status: Literal["error", "fail"]  # fail: a test ran and found rows; error: the node could not run
    file_path: str | None  # original_file_path: a test's is the property file that declares it
    compiled_sql: str | None
    message: str  # dbt's message, whole
    failing_rows: int | None = None
    # For a generic data test: the model it is attached to, its column and the test's name.
    tested_model: str | None = None
    tested_column: str | None = None
    test_name: str | None = None
    test_arguments: dict[str, Any] | None = field(
        default=None, hash=False
    )  # as dbt parsed them, without `model`

    @property
    def cause(self) -> str:
        """The first line of dbt's message that says what went wrong, without its `… Error in model x` header."""
        lines = [line.strip() for line in self.message.splitlines() if line.strip()]
        meaningful = [line for line in lines if not _HEADER.match(line) and not _TRAILER.match(line)]
        return (meaningful or lines or [self.status])[0]

    @property
    def where(self) -> str:
        """The node named with its type and file, e.g. `model stg_shop__orders (models/stg_shop__orders.sql)`."""
        return f"{self.resource_type} {self.name}" + (f" ({self.file_path})" if self.file_path else "")


def _failure(node: NodeResult) -> BuildFailure:
    return BuildFailure(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=node.resource_type,
        status="fail" if node.status == "fail" else "error",
        file_path=node.file_path,
        compiled_sql=node.compiled_code,
        message=node.message or "",
        failing_rows=node.failures,
        tested_model=node.tested_model,
        tested_column=node.tested_column,
        test_name=node.test_name,
        test_arguments=node.test_arguments,
    )


def build_failures(build: BuildSummary) -> list[BuildFailure]:
    """Every node of a build that errored or failed, in the order dbt reported them."""
    return [_failure(node) for node in build.failed]
