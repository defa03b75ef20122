"""Unit tests of cartridge_bridge.manifest.read_manifest and the slim Manifest records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cartridge_bridge.errors import ProjectError
from cartridge_bridge.gather.manifest import Manifest, Metadata, read_manifest, schema_version

MANIFEST = Path(__file__).resolve().parent.parent / "fixtures" / "unit" / "manifest_min.json"


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return read_manifest(MANIFEST)


def variant(tmp_path: Path, change: dict[str, Any]) -> Path:
    document = json.loads(MANIFEST.read_text(encoding="utf-8"))
    document["metadata"].update(change)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_fixture_decodes(manifest: Manifest) -> None:
    assert manifest.metadata.project_name == "shop"
    assert manifest.metadata.adapter_type == "postgres"
    assert schema_version(manifest) == 12
    legacy = manifest.nodes["model.shop.stg_legacy"]
    assert (legacy.schema_, legacy.config, legacy.depends_on.nodes) == (
        "analytics",
        {"materialized": "view"},
        ["source.shop.legacy.payments"],
    )
    payments = manifest.sources["source.shop.legacy.payments"]
    assert (payments.schema_, payments.identifier, payments.source_name) == ("RAW_SHOP", "PAYMENTS", "legacy")


def test_root_models_exclude_other_packages_and_other_resources(manifest: Manifest) -> None:
    assert [n.name for n in manifest.root_models()] == ["stg_legacy"]
    assert "vendor_helper" in manifest.node_names()  # still a name dbt would refuse to reuse
    assert "not_null_stg_legacy_id" not in manifest.node_names()


def test_root_sources_exclude_other_packages(manifest: Manifest) -> None:
    assert [(s.source_name, s.name) for s in manifest.root_sources()] == [("legacy", "payments")]
    assert len(manifest.sources) == 2


def test_without_a_project_name_nothing_is_the_projects(manifest: Manifest) -> None:
    nameless = Manifest(metadata=Metadata(), nodes=manifest.nodes, sources=manifest.sources)
    assert nameless.root_models() == []
    assert nameless.root_sources() == []


def test_has_macro(manifest: Manifest) -> None:
    assert manifest.has_macro("cartridge", "gather")
    assert not manifest.has_macro("cartridge", "scatter")
    assert not manifest.has_macro("shop", "gather")


@pytest.mark.parametrize("version", [10, 11, 12])
def test_supported_schema_versions(tmp_path: Path, version: int) -> None:
    url = f"https://schemas.getdbt.com/dbt/manifest/v{version}.json"
    assert schema_version(read_manifest(variant(tmp_path, {"dbt_schema_version": url}))) == version


def test_missing_manifest_says_to_run_dbt_parse(tmp_path: Path) -> None:
    missing = tmp_path / "target" / "manifest.json"
    with pytest.raises(ProjectError) as caught:
        read_manifest(missing)
    assert str(caught.value) == f"no dbt manifest at {missing}; run `dbt parse` in the project first"


def test_a_directory_is_not_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="run `dbt parse`"):
        read_manifest(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        '{"metadata": {"dbt_schema_version": ',
        "not json at all",
        '{"nodes": {}}',  # no metadata
        '{"metadata": {}, "nodes": []}',  # nodes of the wrong shape
    ],
)
def test_corrupt_manifest(tmp_path: Path, text: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProjectError) as caught:
        read_manifest(path)
    message = str(caught.value)
    assert message.startswith(f"the dbt manifest {path} is corrupt (")
    assert message.endswith("run `dbt parse` again")


def test_unsupported_schema_version_is_named(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v9.json", "dbt_version": "1.5.4"},
    )
    with pytest.raises(ProjectError) as caught:
        read_manifest(path)
    message = str(caught.value)
    assert "has schema version 9 (dbt 1.5.4)" in message
    assert "v10–v12" in message


def test_unknown_schema_version(tmp_path: Path) -> None:
    path = variant(tmp_path, {"dbt_schema_version": "", "dbt_version": ""})
    with pytest.raises(ProjectError, match=r"has schema version unknown \(dbt \?\)"):
        read_manifest(path)
