"""Read dbt's target/manifest.json into slim typed records, decoding only the fields cartridge uses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from .errors import ProjectError

# Manifest schema versions written by dbt 1.6 (v10) to 1.11 (v12).
SUPPORTED_SCHEMA_VERSIONS = (10, 11, 12)
_VERSION_IN_URL = re.compile(r"/manifest/v(\d+)\.json$")


class Metadata(msgspec.Struct, kw_only=True):
    """The manifest header fields cartridge needs."""

    dbt_schema_version: str = ""
    dbt_version: str = ""
    project_name: str | None = None
    adapter_type: str | None = None


class DependsOn(msgspec.Struct, kw_only=True):
    """The nodes and macros a node depends on."""

    nodes: list[str] = []


class Column(msgspec.Struct, kw_only=True):
    """A documented column of a node or source."""

    name: str
    description: str = ""
    data_type: str | None = None


class Node(msgspec.Struct, kw_only=True):
    """A model, seed, snapshot, analysis or data test of the manifest."""

    unique_id: str
    resource_type: str
    name: str
    package_name: str
    original_file_path: str = ""
    patch_path: str | None = None
    database: str | None = None
    schema_: str | None = msgspec.field(default=None, name="schema")
    alias: str | None = None
    description: str = ""
    columns: dict[str, Column] = {}
    config: dict[str, Any] = {}
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)
    column_name: str | None = None
    attached_node: str | None = None
    test_metadata: dict[str, Any] | None = None


class SourceTable(msgspec.Struct, kw_only=True):
    """A table declared in a sources YAML file."""

    unique_id: str
    name: str
    source_name: str
    package_name: str
    identifier: str
    original_file_path: str = ""
    database: str | None = None
    schema_: str = msgspec.field(default="", name="schema")
    description: str = ""
    columns: dict[str, Column] = {}


class Manifest(msgspec.Struct, kw_only=True):
    """The parts of a dbt manifest cartridge reads."""

    metadata: Metadata
    nodes: dict[str, Node] = {}
    sources: dict[str, SourceTable] = {}
    macros: dict[str, msgspec.Raw] = {}  # kept undecoded: cartridge only asks which macros exist

    def root_models(self) -> list[Node]:
        """The models of the project itself, not of its installed packages."""
        project = self.metadata.project_name
        return [n for n in self.nodes.values() if n.resource_type == "model" and n.package_name == project]

    def root_sources(self) -> list[SourceTable]:
        """The source tables declared by the project itself."""
        project = self.metadata.project_name
        return [s for s in self.sources.values() if s.package_name == project]

    def has_macro(self, package: str, name: str) -> bool:
        """True when a package's macro is part of the project (e.g. the cartridge package is installed)."""
        return f"macro.{package}.{name}" in self.macros

    def node_names(self) -> set[str]:
        """Names of every model, seed and snapshot, whatever package declares them."""
        return {n.name for n in self.nodes.values() if n.resource_type in ("model", "seed", "snapshot")}


def schema_version(manifest: Manifest) -> int | None:
    """The manifest schema number (12 for dbt 1.8–1.11), read from its schema URL."""
    match = _VERSION_IN_URL.search(manifest.metadata.dbt_schema_version)
    return int(match.group(1)) if match else None


def read_manifest(path: Path) -> Manifest:
    """Decode a manifest file, with a clear message when it is missing, corrupt or unsupported."""
    if not path.is_file():
        raise ProjectError(f"no dbt manifest at {path}; run `dbt parse` in the project first")
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=Manifest)
    except msgspec.DecodeError as error:
        raise ProjectError(f"the dbt manifest {path} is corrupt ({error}); run `dbt parse` again") from None
    version = schema_version(manifest)
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ProjectError(
            f"the dbt manifest {path} has schema version {version or 'unknown'} "
            f"(dbt {manifest.metadata.dbt_version or '?'}); cartridge reads v10–v12 from dbt 1.6–1.11"
        )
    return manifest
