"""Convention inference on the fixture projects (golden files) and on small hand-made manifests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from cartridge_bridge.config import CartridgeConfig, Conventions
from cartridge_bridge.context.convention_evidence import (
    GUIDE,
    NO_EVIDENCE,
    PINNED,
    InferredConventions,
    apply_pinned,
    confidence,
    pinned_settings,
)
from cartridge_bridge.context.convention_rules import infer_conventions
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.manifest import (
    Column,
    DependsOn,
    Manifest,
    Metadata,
    Node,
    SourceTable,
    read_manifest,
)

PROJECTS = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
FIXTURES = ["greenfield_empty", "classic_style", "dbt_labs_style", "jaffle_classic"]


def project_file(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((PROJECTS / name / "dbt_project.yml").read_text(encoding="utf-8"))


def inferred(name: str) -> InferredConventions:
    return infer_conventions(read_manifest(PROJECTS / name / "manifest.json"), project_file(name))


@pytest.mark.parametrize("name", FIXTURES)
def test_inferred_conventions_match_the_golden_file(name: str) -> None:
    manifest = read_manifest(PROJECTS / name / "manifest.json")
    # With the project's folder: the YAML dialect is read from its property files' text.
    actual = infer_conventions(manifest, project_file(name), PROJECTS / name).model_dump(mode="json")
    golden = PROJECTS / name / "expected_conventions.json"
    text = json.dumps(actual, indent=2) + "\n"
    stale = not golden.is_file() or golden.read_text(encoding="utf-8") != text
    if stale and os.environ.get("CARTRIDGE_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
        pytest.fail(f"rewrote {golden}: review the diff, then run again without CARTRIDGE_UPDATE_GOLDEN")
    assert golden.is_file(), f"no golden file {golden}; run with CARTRIDGE_UPDATE_GOLDEN=1"
    assert actual == json.loads(golden.read_text(encoding="utf-8"))


def test_dbt_labs_style_matches_the_guide_but_for_ephemeral_intermediates() -> None:
    result = inferred("dbt_labs_style")
    assert result.origin == "inferred"
    # Its one mart foreign key (fct_orders.customer_id) is tested against a mart: the guide's habit too.
    assert result.conventions() == Conventions(
        intermediate_materialized="ephemeral", sql_leading_commas=True, test_mart_relationships=True
    )
    values = result.values()
    assert (values.sources_dir, values.sql_leading_commas, values.sql_import_ctes) == (
        "staging/{source}",
        True,
        True,
    )
    assert result.marts_dir.evidence.examples == ["marts/finance", "marts/marketing"]
    assert result.marts_properties_file.value == "_marts__models.yml"  # from _finance__ and _marketing__
    assert (result.test_relationships.value, result.describe_columns.evidence.agree) == (True, 21)


def test_classic_style_is_read_as_it_is() -> None:
    result = inferred("classic_style")
    values = result.values()
    assert (values.staging_model, values.staging_dir, values.sources_file) == (
        "stg_{table}",
        "staging",
        "sources.yml",
    )
    assert (values.staging_properties_file, values.marts_properties_file) == ("schema.yml", "schema.yml")
    assert (values.dimension_model, values.fact_model) == ("{table}", "{table}")
    assert (values.sql_keyword_case, values.sql_leading_commas, values.sql_import_ctes) == (
        "upper",
        False,
        False,
    )
    assert (values.test_primary_keys, values.test_relationships, values.describe_columns) == (
        True,
        False,
        False,
    )
    assert result.staging_materialized.evidence.basis == "dbt_project.yml"


def test_jaffle_shop_over_seeds_is_read_as_it_is() -> None:
    # dbt's classic jaffle_shop: `stg_customers` selects from the seed `raw_customers`, marts sit at the root.
    result = inferred("jaffle_classic")
    values = result.conventions(min_confidence=0.5)
    assert (values.staging_model, values.strip_prefix, values.staging_dir) == (
        "stg_{table}",
        "raw_",
        "staging",
    )
    assert result.strip_prefix.evidence.examples == ["stg_customers", "stg_orders", "stg_payments"]
    assert (values.staging_properties_file, values.marts_properties_file) == ("schema.yml", "schema.yml")
    assert (values.marts_dir, values.fact_model, values.dimension_model) == ("", "{table}", "{table}")
    assert values.sources_dir == "staging"  # no sources yet: they go with the staging models
    assert values.sql_import_ctes is True  # a Jinja comment inside `source as (...)` is still an import CTE


def test_a_prefix_stripped_from_source_identifiers_is_learnt() -> None:
    nodes = [model(f"stg_{t}", "staging", reads=f"source.p.crm.{t}") for t in ("accounts", "deals", "owners")]
    sources = {
        f"source.p.crm.{t}": SourceTable(
            unique_id=f"source.p.crm.{t}", name=t, source_name="crm", package_name="p", identifier=f"CRM_{t}"
        )
        for t in ("accounts", "deals", "owners")
    }
    manifest = Manifest(
        metadata=Metadata(project_name="p"), nodes={n.unique_id: n for n in nodes}, sources=sources
    )
    result = infer_conventions(manifest, {"name": "p"})
    assert (result.strip_prefix.value, result.strip_prefix.evidence.agree) == ("crm_", 3)


def test_only_a_snake_case_word_counts_as_a_stripped_prefix() -> None:
    nodes = [model(f"stg_{t}", "staging", reads=f"seed.p.{t}") for t in ("a", "b")]
    seeds = [
        Node(unique_id=f"seed.p.{t}", resource_type="seed", name=t, package_name="p", alias=alias)
        for t, alias in (("a", "Über_a"), ("b", "xb"))
    ]
    result = infer_conventions(manifest_of(*nodes, *seeds), {"name": "p"})
    assert result.strip_prefix.evidence.total == 0
    assert result.conventions().strip_prefix == ""


def test_unanimous_conventions_win_over_the_bar_and_split_ones_do_not() -> None:
    result = inferred("jaffle_classic")
    strict = result.conventions(min_confidence=0.9)  # above what 2 or 3 models' Wilson bound reaches
    assert (strict.staging_model, strict.strip_prefix, strict.marts_dir) == ("stg_{table}", "raw_", "")
    assert strict.describe_models is Conventions().describe_models  # 3 of 5: split, so the default
    # One model alone is not enough, even unanimous.
    single = infer_conventions(manifest_of(model("stg_a", "staging", reads="source.p.crm.a")), {"name": "p"})
    assert single.conventions(min_confidence=0.5).staging_model == Conventions().staging_model
    # A layer without YAML borrows the project's habit at half the confidence, and is followed when that
    # habit is: every documented model in a schema.yml, so the intermediate models' YAML goes in one too.
    assert result.intermediate_properties_file.confidence < 0.5
    assert strict.intermediate_properties_file == "schema.yml"


def test_a_layer_without_models_borrows_or_defaults_with_low_confidence() -> None:
    result = inferred("classic_style")
    assert (result.intermediate_dir.value, result.intermediate_dir.confidence) == ("intermediate", 0.0)
    assert result.intermediate_dir.evidence.basis == NO_EVIDENCE
    # No intermediate YAML to learn from: the project's schema.yml habit, at half the confidence.
    borrowed = result.intermediate_properties_file
    assert borrowed.value == "schema.yml"
    assert borrowed.confidence == pytest.approx(result.properties_file.confidence / 2, abs=0.01)


def test_dbt_project_yml_settles_a_layer_it_configures() -> None:
    settings = project_file("classic_style")
    settings["models"]["classic_style"]["intermediate"] = {"+materialized": "ephemeral"}
    result = infer_conventions(read_manifest(PROJECTS / "classic_style" / "manifest.json"), settings)
    finding = result.intermediate_materialized
    assert (finding.value, finding.confidence, finding.evidence.basis) == (
        "ephemeral",
        1.0,
        "dbt_project.yml",
    )


def test_greenfield_gets_the_dbt_labs_guide() -> None:
    result = inferred("greenfield_empty")
    assert (result.origin, result.models) == ("default", 0)
    assert result.values() == Conventions()
    assert result.conventions() == Conventions()
    findings = [value for key, value in result if key not in ("origin", "models", "sampled")]
    assert len(findings) == 41
    assert {(f.confidence, f.evidence.basis) for f in findings} == {(1.0, GUIDE)}


def test_pinned_beats_inferred() -> None:
    config = CartridgeConfig.model_validate({"conventions": {"staging_model": "stg_{source}__{table}"}})
    pinned = pinned_settings(config.conventions)
    assert pinned == {"staging_model": "stg_{source}__{table}"}
    result = apply_pinned(inferred("classic_style"), pinned)
    assert result.staging_model.value == "stg_{source}__{table}"
    assert (result.staging_model.confidence, result.staging_model.evidence.basis) == (1.0, PINNED)
    assert result.staging_dir.value == "staging"  # not pinned: still what the project does
    assert result.conventions().staging_model == "stg_{source}__{table}"


def test_pinning_a_proposed_setting_and_a_value_equal_to_the_default() -> None:
    result = apply_pinned(inferred("dbt_labs_style"), {"sql_leading_commas": False, "marts_dir": "marts"})
    assert result.values().sql_leading_commas is False
    assert result.marts_dir.evidence.basis == PINNED


def test_pinning_an_unknown_setting_is_refused() -> None:
    with pytest.raises(UsageError, match=r"^conventions\.stagin_model is not a convention cartridge knows$"):
        apply_pinned(inferred("classic_style"), {"stagin_model": "x"})


def test_pinning_a_wrong_type_names_the_setting() -> None:
    with pytest.raises(UsageError, match=r"^conventions\.sql_indent: "):
        apply_pinned(inferred("classic_style"), {"sql_indent": "four"})


def test_confidence_grows_with_agreement_and_evidence() -> None:
    assert confidence(0, 0) == 0.0
    assert confidence(1, 1) < 0.5  # one model is weak evidence
    assert confidence(3, 3) < confidence(10, 10) < confidence(50, 50) < 1.0
    assert confidence(7, 10) < confidence(10, 10)
    assert confidence(2, 4, tied=True) < 0.2


def model(name: str, folder: str, code: str = "select 1 as x", reads: str = "", **fields: Any) -> Node:
    depends = DependsOn(nodes=[reads]) if reads else DependsOn()
    return Node(
        unique_id=f"model.p.{name}",
        resource_type="model",
        name=name,
        package_name="p",
        original_file_path=f"models/{folder}/{name}.sql",
        raw_code=code,
        depends_on=depends,
        **fields,
    )


def manifest_of(*nodes: Node) -> Manifest:
    return Manifest(metadata=Metadata(project_name="p"), nodes={n.unique_id: n for n in nodes})


def test_a_tie_gives_low_confidence() -> None:
    result = infer_conventions(
        manifest_of(
            model("stg_crm__accounts", "staging", reads="source.p.crm.accounts"),
            model("stg_deals", "staging", reads="source.p.crm.deals"),
        ),
        {"name": "p"},
    )
    finding = result.staging_model
    assert (finding.evidence.agree, finding.evidence.total) == (1, 2)
    assert finding.confidence < 0.2
    assert result.staging_prefix.confidence > finding.confidence  # both use stg_: that part agrees


def test_sql_style_of_two_space_lowercase_trailing_commas() -> None:
    code = "select\n  id,\n  name\nfrom {{ ref('a') }}\nwhere id > 0\n"
    result = infer_conventions(manifest_of(model("fct_a", "marts", code), model("fct_b", "marts", code)), {})
    values = result.values()
    assert (values.sql_indent, values.sql_keyword_case, values.sql_leading_commas) == (2, "lower", False)
    assert values.sql_import_ctes is False
    assert result.sql_indent.evidence.examples == ["fct_a", "fct_b"]


def test_comments_strings_and_jinja_do_not_count_as_style() -> None:
    code = "-- SELECT FROM WHERE, ,\n{# , SELECT #}\nselect 'A, B,' as x\n    , y\nfrom t\n"
    result = infer_conventions(manifest_of(model("fct_a", "marts", code)), {})
    assert (result.sql_keyword_case.value, result.sql_leading_commas.value) == ("lower", True)


def test_yaml_kept_in_another_folder_falls_back_to_the_default() -> None:
    documented = model("dim_a", "marts", patch_path="p://models/docs/everything.yml")
    result = infer_conventions(manifest_of(documented), {})
    assert result.properties_file.value == "everything.yml (in another folder)"
    assert (result.marts_properties_file.value, result.marts_properties_file.confidence) == (
        Conventions().marts_properties_file,
        0.0,
    )


def test_one_yaml_per_model_keeps_a_model_placeholder() -> None:
    nodes = [
        model(
            f"dim_{n}", "marts", patch_path=f"p://models/marts/dim_{n}.yml", columns={"x": Column(name="x")}
        )
        for n in ("a", "b", "c")
    ]
    result = infer_conventions(manifest_of(*nodes), {})
    assert result.marts_properties_file.value == "{model}.yml"
    assert result.describe_columns.value is False


def test_one_mart_and_one_source_in_the_projects_schema_yml_follow_it() -> None:
    # Two staging models and one mart, each folder's models in its schema.yml, the source beside the staging
    # models: one mart and one source file are weak evidence alone, but they keep the project's one habit.
    nodes = [
        model(f"stg_{t}", "staging", reads=f"source.p.crm.{t}", patch_path="p://models/staging/schema.yml")
        for t in ("accounts", "payments")
    ]
    mart = model("customer_accounts", "marts", patch_path="p://models/marts/schema.yml")
    sources = {
        f"source.p.crm.{t}": SourceTable(
            unique_id=f"source.p.crm.{t}",
            name=t,
            source_name="crm",
            package_name="p",
            identifier=t,
            original_file_path="models/staging/schema.yml",
        )
        for t in ("accounts", "payments")
    }
    manifest = Manifest(
        metadata=Metadata(project_name="p"), nodes={n.unique_id: n for n in [*nodes, mart]}, sources=sources
    )
    result = infer_conventions(manifest, {"name": "p"})
    assert result.marts_properties_file.confidence < 0.5  # one mart alone would not be followed
    values = result.conventions(min_confidence=0.5)
    assert (values.marts_properties_file, values.sources_file, values.sources_dir) == (
        "schema.yml",
        "schema.yml",
        "staging",
    )
    # A layer whose own file differs from the project's habit keeps the bar.
    mart_apart = model("customer_accounts", "marts", patch_path="p://models/marts/_marts__models.yml")
    split = Manifest(
        metadata=Metadata(project_name="p"),
        nodes={n.unique_id: n for n in [*nodes, mart_apart]},
        sources=sources,
    )
    assert infer_conventions(split, {"name": "p"}).conventions(0.5).marts_properties_file == (
        Conventions().marts_properties_file
    )
