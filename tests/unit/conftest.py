"""Fixtures the unit tests share: the small shop's facts, a one-model manifest and their context."""

from __future__ import annotations

import msgspec
import pytest
from support import UNIT_FIXTURES, shop_project

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import WarehouseFacts, parse_facts
from cartridge_bridge.gather.manifest import Manifest


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    """tests/fixtures/unit/manifest_min.json: project `shop` with one model and one source."""
    return msgspec.json.decode((UNIT_FIXTURES / "manifest_min.json").read_bytes(), type=Manifest)


@pytest.fixture(scope="module")
def facts() -> WarehouseFacts:
    """tests/fixtures/unit/facts_shop.json: a raw shop schema as the gather macro prints it."""
    return parse_facts((UNIT_FIXTURES / "facts_shop.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def context(
    tmp_path_factory: pytest.TempPathFactory, manifest: Manifest, facts: WarehouseFacts
) -> ProjectContext:
    """The shop's context with cartridge's default conventions."""
    return build_context(shop_project(tmp_path_factory.mktemp("shop")), manifest, facts, Conventions())
