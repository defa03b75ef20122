"""Locate the cartridge dbt package and install it into a host project (`cartridge init`)."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .errors import ProjectError
from .yaml_merge import dump_yaml, load_yaml

PACKAGE_NAME = "cartridge"


def package_dir() -> Path:
    """The folder holding the package's dbt_project.yml: inside the wheel, or the source checkout."""
    bundled = Path(__file__).parent / "dbt_package"
    if (bundled / "dbt_project.yml").is_file():
        return bundled
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "dbt_project.yml").is_file() and (checkout / "macros").is_dir():
        return checkout
    raise ProjectError("the cartridge dbt package is missing from this installation; reinstall cartridge")


def packages_yml_with_cartridge(existing: str | None, location: Path) -> str:
    """packages.yml text that lists the cartridge package at `location`, keeping every other entry."""
    document = load_yaml(existing, "packages.yml") if existing else CommentedMap()
    packages = document.get("packages")
    if packages is None:
        packages = CommentedSeq()
        document["packages"] = packages
    entry = {"local": str(location)}
    for index, item in enumerate(packages):
        local = item.get("local") if isinstance(item, dict) else None
        if local is not None and _is_cartridge(Path(local)):
            packages[index] = entry
            break
    else:
        packages.append(entry)
    return dump_yaml(document)


def _is_cartridge(path: Path) -> bool:
    project_file = path / "dbt_project.yml"
    try:
        return project_file.is_file() and "name: cartridge" in project_file.read_text(encoding="utf-8")
    except OSError:
        return False
