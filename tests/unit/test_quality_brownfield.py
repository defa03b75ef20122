"""The brownfield lane's counts (bench/quality_brownfield.py) find what they count, on hand-made files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bench.llm_recorded import RECORDINGS
from bench.quality_brownfield import (
    lane_planner,
    mart_copies,
    mart_keys,
    mixed_units,
    reused_descriptions,
    stale_columns,
    style_mismatches,
    unit_mismatches,
)

BEFORE = {
    "models/staging/schema.yml": (
        "version: 2\nsources:\n  - name: shop\n    tables:\n      - name: payment\n"
        "models:\n  - name: stg_payments\n    columns:\n"
        "      - name: amount\n        description: What was paid, in units.\n"
        "      - name: status\n        description: \"{{ doc('payment_status') }}\"\n"
        "      - name: method\n        description: How it was paid.\n"
    ),
    "models/staging/docs.md": "{% docs payment_status %}\nPaid  or   failed.\n{% enddocs %}\n",
    "models/staging/stg_payments.sql": "select id, amount / 100 as amount, status\nfrom {{ source('shop', 'payment') }}\n",
    "models/marts/orders.sql": "select * from {{ ref('stg_payments') }}\n",
    "models/marts/schema.yml": (
        "version: 2\nmodels:\n  - name: orders\n    columns:\n"
        "      - name: order_id\n        tests:\n          - unique\n          - not_null\n"
    ),
}


def test_descriptions_count_only_across_unrelated_tables() -> None:
    refunds_sql = "select id, amount, status from {{ source('shop', 'refund') }}\n"
    mart_sql = (
        "select r.amount from {{ ref('stg_refunds') }} as r join {{ ref('stg_payments') }} as p on true\n"
    )
    written = {
        "models/staging/stg_refunds.sql": refunds_sql,
        "models/marts/fct_refunds.sql": mart_sql,
        "models/staging/schema.yml": BEFORE["models/staging/schema.yml"]
        + "  - name: stg_refunds\n    columns:\n"
        "      - name: amount\n        description: What  was paid, in units.\n"  # borrowed by name
        "      - name: status\n        description: Paid or failed.\n"  # the doc block, flattened
        "      - name: id\n        description: The refund's id.\n",
        "models/marts/schema.yml": BEFORE["models/marts/schema.yml"] + "  - name: fct_refunds\n    columns:\n"
        "      - name: method\n        description: How it was paid.\n",  # reads stg_payments: lineage
    }
    after = BEFORE | written
    assert reused_descriptions(BEFORE, written, after) == [
        "stg_refunds.amount ← stg_payments.amount",
        "stg_refunds.status ← stg_payments.status",
    ]


def test_style_counts_each_habit_the_written_files_break() -> None:
    after = BEFORE | {"models/marts/fct_refunds.sql": "select 1"}
    written = {
        "models/staging/schema.yml": BEFORE["models/staging/schema.yml"],
        "models/marts/_marts__models.yml": (
            "models:\n  - name: fct_refunds\n    columns:\n      - name: id\n        data_type: integer\n"
            "        data_tests:\n          - unique\n"
        ),
        "models/staging/more.yml": "version: 2\nmodels:\n  - name: fct_refunds\n",
    }
    found = style_mismatches(written, after)
    assert found == [
        "models/marts/_marts__models.yml: properties file not named schema.yml",
        "models/marts/_marts__models.yml: no `version: 2` header",
        "models/marts/_marts__models.yml: `data_tests:` where the project writes `tests:`",
        "models/marts/_marts__models.yml: `data_type:` on columns, which the project never writes",
        "models/staging/more.yml: properties file not named schema.yml",
        "models/staging/more.yml: documents fct_refunds, whose SQL is in models/marts",
    ]


def test_an_undivided_amount_counts_unless_the_run_flagged_it() -> None:
    written = {
        "models/staging/stg_refunds.sql": "select id, amount from {{ source('shop', 'refund') }}",
        "models/staging/stg_fees.sql": "select id, amount / 100 as amount from {{ source('shop', 'fee') }}",
        "models/staging/stg_notes.sql": "select id, body from {{ source('shop', 'note') }}",
    }
    report = cast(Any, SimpleNamespace(unit_findings=[]))
    assert unit_mismatches(BEFORE, written, report) == [
        "stg_refunds: `amount` selected without `/ 100`, not flagged"
    ]
    flagged = cast(Any, SimpleNamespace(unit_findings=["unit check: `stg_refunds.amount` is not converted"]))
    assert unit_mismatches(BEFORE, written, flagged) == []


def test_a_copy_is_half_the_columns_at_the_existing_marts_grain() -> None:
    existing = {"orders": ["order_id", "customer_id", "amount", "status"]}
    relations = {
        "orders_enriched": ["order_id", "customer_id", "amount", "refunds"],  # one row per order
        "fct_order_line": ["order_line_id", "order_id", "customer_id"],  # many rows per order
        "orders_with_refunds": ["order_id", "refunds"],  # the narrow extension
    }
    keys = mart_keys(BEFORE)
    assert keys == {"orders": "order_id"}
    copies, elsewhere = mart_copies(
        existing, keys, sorted(relations), relations, lambda mart, key: mart != "fct_order_line"
    )
    assert copies == ["orders_enriched holds 3 of orders's 4 columns (amount, customer_id, order_id)"]
    assert elsewhere == ["fct_order_line holds 2 of orders's 4 columns (customer_id, order_id)"]


def test_stale_columns_are_documented_columns_the_relation_lacks() -> None:
    relations = {"stg_payments": ["id", "amount", "status"], "orders": ["order_id"]}
    assert stale_columns(BEFORE, relations) == ["stg_payments.method"]


def test_the_rules_lane_leaves_the_planner_to_generate(tmp_path: Path) -> None:
    with lane_planner("zuora", None) as chosen:
        assert (chosen.planner, chosen.repairer, chosen.recorded) == (None, None, None)
    assert list(tmp_path.iterdir()) == []


def test_the_relayed_lane_asks_the_reader_every_request_and_marks_its_end(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), lane_planner("zuora", tmp_path) as chosen:
        assert chosen.planner is not None and chosen.repairer is not None
        recorded = chosen.recorded
        assert recorded is not None and recorded.relay == tmp_path / "zuora"
        # A scratch recording: no answer recorded for another run's prompts is served to this one.
        assert recorded.folder != RECORDINGS / "zuora" and list(recorded.folder.iterdir()) == []
        assert not (tmp_path / "zuora" / "DONE").exists()
        raise RuntimeError("generate failed")  # the reader is told the run ended all the same
    assert (tmp_path / "zuora" / "DONE").is_file()
    assert not recorded.folder.exists()


def test_mixed_units_name_a_staging_model_dividing_one_amount_and_not_its_siblings() -> None:
    invoice = (
        "select\n    id as invoice_id,\n    amount / 100 as amount,\n"
        "    cast(tax_amount as double precision) as tax_amount,\n    payment_amount,\n"
        "    cast(balance as double precision) as balance\nfrom {{ source('zuora', 'invoice') }}\n"
    )
    refund = "select id as refund_id, amount / 100 as amount from {{ source('zuora', 'refund') }}\n"
    mart = "select amount / 100 as amount, tax_amount from {{ ref('stg_invoice') }}\n"  # not staging
    written = {
        "models/staging/stg_invoice.sql": invoice,
        "models/staging/stg_refund.sql": refund,
        "models/marts/fct_invoice.sql": mart,
        "models/staging/schema.yml": "version: 2\n",
    }
    assert mixed_units(written) == ["stg_invoice: amount / 100 beside payment_amount, tax_amount undivided"]
