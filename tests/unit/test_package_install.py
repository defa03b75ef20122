"""Installing the cartridge package into a project: the packages.yml entry, the settings, the vendored copy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import REPO_ROOT

from cartridge_bridge import __version__
from cartridge_bridge.config import PackageInstall, load_config
from cartridge_bridge.dbt.package_install import (
    InitOptions,
    RestorableWrites,
    install_entry,
    install_settings,
    package_dir,
    package_files,
    package_version,
    plan_vendored_copy,
)
from cartridge_bridge.dbt.packages_file import packages_file, packages_yml_with_cartridge
from cartridge_bridge.errors import UsageError

VENDORED = {"local": "vendor/cartridge"}
OLD_ENTRY = "/home/ana/.venv/lib/python3.11/site-packages/cartridge_bridge/dbt_package"


def _project(directory: Path, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dbt_project.yml").write_text(f"name: shop\nconfig-version: 2\n{extra}")
    return directory


# --- the entry in packages.yml


def test_an_old_absolute_entry_is_replaced_in_place_with_its_comments(tmp_path: Path) -> None:
    existing = (
        "packages:\n"
        "  # our helpers\n"
        "  - local: ../helpers\n"
        f"  - local: {OLD_ENTRY}  # cartridge\n"
        "  # from the hub\n"
        "  - package: dbt-labs/dbt_utils\n"
        '    version: [">=1.0.0", "<2.0.0"]\n'
    )
    updated = packages_yml_with_cartridge(existing, VENDORED, _project(tmp_path))
    assert updated == existing.replace(f"{OLD_ENTRY}  # cartridge", "vendor/cartridge  # cartridge")


def test_a_relative_local_package_is_found_from_the_project(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    elsewhere = tmp_path / "checkout"
    elsewhere.mkdir()
    (elsewhere / "dbt_project.yml").write_text("name: cartridge\n")
    existing = "packages:\n  # ours\n  - local: ../checkout\n  - package: dbt-labs/dbt_utils\n"
    updated = packages_yml_with_cartridge(existing, VENDORED, project)
    assert updated == "packages:\n  # ours\n  - local: vendor/cartridge\n  - package: dbt-labs/dbt_utils\n"


def test_listing_the_same_entry_again_returns_the_text_untouched(tmp_path: Path) -> None:
    existing = "packages:\n    - local:   vendor/cartridge   # odd spacing, kept\n"
    assert packages_yml_with_cartridge(existing, VENDORED, _project(tmp_path)) is existing


def test_the_entry_is_appended_when_no_entry_is_cartridge(tmp_path: Path) -> None:
    existing = "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n"
    updated = packages_yml_with_cartridge(existing, VENDORED, _project(tmp_path))
    assert updated == existing + "  - local: vendor/cartridge\n"
    assert packages_yml_with_cartridge(None, VENDORED, tmp_path) == "packages:\n  - local: vendor/cartridge\n"


def test_a_git_entry_is_written_with_its_revision_and_moved_back_to_a_copy(tmp_path: Path) -> None:
    project = _project(tmp_path)
    entry = install_entry(
        PackageInstall(mode="git", git="https://example.com/acme/cartridge.git", revision="v0.1.0")
    )
    existing = (
        f"packages:\n  - local: {OLD_ENTRY}  # cartridge\n  # next\n  - package: a/b\n    version: 1.0.0\n"
    )
    as_git = packages_yml_with_cartridge(existing, entry, project)
    assert as_git == (
        "packages:\n"
        "  - git: https://example.com/acme/cartridge.git\n"
        "    revision: v0.1.0 # cartridge\n"
        "  # next\n"
        "  - package: a/b\n"
        "    version: 1.0.0\n"
    )
    pinned_later = {**entry, "revision": "v0.2.0"}
    assert packages_yml_with_cartridge(as_git, pinned_later, project) == as_git.replace("v0.1.0", "v0.2.0")
    back = packages_yml_with_cartridge(as_git, VENDORED, project)
    assert (
        back
        == "packages:\n  - local: vendor/cartridge # cartridge\n  # next\n  - package: a/b\n    version: 1.0.0\n"
    )


def test_a_git_entry_the_lock_file_names_cartridge_is_recognized(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "package-lock.yml").write_text(
        "packages:\n  - git: https://example.com/tools.git\n    revision: abc\n    name: cartridge\nsha1_hash: x\n"
    )
    existing = "packages:\n  - git: https://example.com/tools.git\n    revision: abc\n"
    assert (
        packages_yml_with_cartridge(existing, VENDORED, project) == "packages:\n  - local: vendor/cartridge\n"
    )


def test_packages_that_is_not_a_list_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="`packages` should be a list"):
        packages_yml_with_cartridge("packages:\n  a: 1\n", VENDORED, tmp_path)


def test_dependencies_yml_is_used_only_when_packages_yml_is_absent(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert packages_file(project).name == "packages.yml"
    (project / "dependencies.yml").write_text("projects:\n  - name: core\n")
    assert packages_file(project).name == "dependencies.yml"
    updated = packages_yml_with_cartridge(
        (project / "dependencies.yml").read_text(), VENDORED, project, "dependencies.yml"
    )
    assert updated == "projects:\n  - name: core\npackages:\n  - local: vendor/cartridge\n"
    (project / "packages.yml").write_text("packages: []\n")
    assert packages_file(project).name == "packages.yml"


# --- settings: cartridge.yml and flags


def test_flags_override_cartridge_yml() -> None:
    configured = PackageInstall(mode="git", git="https://example.com/cartridge.git", revision="v1")
    assert install_settings(configured, InitOptions()) == configured
    assert install_settings(configured, InitOptions(revision="v2")).revision == "v2"
    other = install_settings(
        configured, InitOptions(git="https://example.com/fork/cartridge.git", revision="v3")
    )
    assert (other.git, other.revision) == ("https://example.com/fork/cartridge.git", "v3")
    with pytest.raises(UsageError, match="--git needs --revision"):
        install_settings(configured, InitOptions(git="https://example.com/fork/cartridge.git"))
    vendored = install_settings(configured, InitOptions(vendor_dir="third_party/cartridge"))
    assert (vendored.mode, vendored.path) == ("vendored", "third_party/cartridge")
    assert install_settings(PackageInstall(), InitOptions()).path == "vendor/cartridge"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (InitOptions(git="https://example.com/cartridge.git"), "--git needs --revision"),
        (InitOptions(revision="v1"), "--revision goes with --git"),
        (InitOptions(subdirectory="pkg"), "--subdirectory goes with --git"),
        (InitOptions(git="u", revision="v1", vendor_dir="v"), "--git and --vendor-dir exclude each other"),
        (InitOptions(vendor_dir="../elsewhere"), r"--vendor-dir \(path\) must stay inside"),
        (InitOptions(vendor_dir="/opt/cartridge"), "must be a relative path"),
        (InitOptions(vendor_dir="vendor\\cartridge"), "with / separators"),
        (InitOptions(git="u", revision="v1", subdirectory="/pkg"), r"--subdirectory \(subdirectory\)"),
    ],
)
def test_bad_flags_are_named(options: InitOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        install_settings(PackageInstall(), options)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("package_install: {mode: git, git: u}", "package_install: mode git needs `revision`"),
        ("package_install: {mode: git, revision: v1}", "package_install: mode git needs `git`"),
        ("package_install: {path: vendor/cartridge, revision: v1}", "`revision` goes with mode git"),
        ("package_install: {mode: git, git: u, revision: v1, path: x}", "mode git has none"),
        ("package_install: {mode: tarball}", "package_install.mode"),
        ("package_install: {path: ../x}", "no `..`"),
        ("package_install: {folder: x}", "package_install.folder"),
    ],
)
def test_bad_package_install_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "cartridge.yml").write_text(text + "\n")
    with pytest.raises(UsageError, match=message):
        load_config(tmp_path)


# --- the vendored copy


def test_the_version_stamp_matches_cartridges_version() -> None:
    """The version is written once, in cartridge_bridge (pyproject reads it: hatch's dynamic version);
    dbt_project.yml cannot read Python, so it must say the same: a release bumping one and not the other fails."""
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and re.search(r"^version = ", pyproject, re.MULTILINE) is None
    assert package_version(package_files(package_dir())) == __version__


def test_the_copy_holds_only_the_dbt_project_and_its_macros(tmp_path: Path) -> None:
    copy = plan_vendored_copy(_project(tmp_path), "vendor/cartridge")
    assert (copy.status, copy.version, copy.previous_version) == ("created", __version__, None)
    names = {path.relative_to(tmp_path / "vendor" / "cartridge").as_posix() for path in copy.writes}
    assert "dbt_project.yml" in names and "macros/gather/gather.sql" in names
    assert all(name == "dbt_project.yml" or name.startswith("macros/") for name in names)
    assert names == set(package_files(REPO_ROOT))


def _vendor(project: Path) -> Path:
    copy = plan_vendored_copy(project, "vendor/cartridge")
    RestorableWrites(project, list(copy.writes)).write(copy.writes)
    return project / "vendor" / "cartridge"


def test_a_current_copy_is_left_alone_and_an_older_one_refreshed(tmp_path: Path) -> None:
    project = _project(tmp_path)
    folder = _vendor(project)
    assert plan_vendored_copy(project, "vendor/cartridge").status == "current"
    manifest = folder / "dbt_project.yml"
    manifest.write_text(manifest.read_text().replace(f'version: "{__version__}"', 'version: "0.0.1"'))
    (folder / "macros" / "retired").mkdir()
    (folder / "macros" / "retired" / "old.sql").write_text("{% macro old() %}{% endmacro %}\n")
    copy = plan_vendored_copy(project, "vendor/cartridge")
    assert (copy.status, copy.previous_version, copy.version) == ("refreshed", "0.0.1", __version__)
    assert copy.writes == {
        manifest: package_files(package_dir())["dbt_project.yml"],
        folder / "macros/retired/old.sql": None,
    }
    RestorableWrites(project, list(copy.writes)).write(copy.writes)
    assert not (folder / "macros" / "retired").exists()
    assert package_files(folder) == package_files(package_dir())


def test_a_newer_copy_is_not_downgraded(tmp_path: Path) -> None:
    project = _project(tmp_path)
    manifest = _vendor(project) / "dbt_project.yml"
    manifest.write_text(manifest.read_text().replace(f'version: "{__version__}"', 'version: "99.0.0"'))
    with pytest.raises(UsageError, match=f"holds cartridge 99.0.0, newer than this cartridge {__version__}"):
        plan_vendored_copy(project, "vendor/cartridge")


def test_a_folder_holding_something_else_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "vendor" / "cartridge").mkdir(parents=True)
    (project / "vendor" / "cartridge" / "notes.md").write_text("mine\n")
    with pytest.raises(UsageError, match="holds something other than the cartridge package"):
        plan_vendored_copy(project, "vendor/cartridge")


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ("", "models/cartridge", r"inside models/ \(model-paths\)"),
        ("macro-paths: [dbt_macros]\n", "dbt_macros/cartridge", r"inside dbt_macros/ \(macro-paths\)"),
        ("", "dbt_packages/cartridge", "inside dbt_packages/, which dbt deletes"),
        ("packages-install-path: installed\n", "installed/cartridge", "inside installed/"),
    ],
)
def test_a_folder_dbt_reads_or_deletes_is_refused(
    tmp_path: Path, extra: str, path: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        plan_vendored_copy(_project(tmp_path, extra), path)


def test_a_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    (tmp_path / "elsewhere").mkdir()
    (project / "vendor").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="leaves the project through a symlink"):
        plan_vendored_copy(project, "vendor/cartridge")


def test_restore_puts_back_files_and_removes_new_folders(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "packages.yml").write_text("packages: []\n")
    changes: dict[Path, str | None] = {
        project / "packages.yml": "packages:\n  - local: vendor/cartridge\n",
        project / "vendor" / "cartridge" / "macros" / "a.sql": "select 1\n",
    }
    files = RestorableWrites(project, list(changes))
    files.write(changes)
    files.restore()
    assert (project / "packages.yml").read_text() == "packages: []\n"
    assert not (project / "vendor").exists()


def test_flow_style_lines_are_kept_as_they_were(tmp_path: Path) -> None:
    import yaml

    block = (
        "packages:\n  - {package: dbt-labs/dbt_utils, version: 1.3.0}  # utils\n"
        '  - package: calogica/dbt_expectations\n    version: [">=0.10.0", "<0.11.0"]\n'
    )
    out = packages_yml_with_cartridge(block, {"local": "vendor/cartridge"}, tmp_path)
    assert out.startswith(block) and out[len(block) :].strip() == "- local: vendor/cartridge"
    flow = "packages: [{package: dbt-labs/dbt_utils, version: 1.3.0}]\n"
    out = packages_yml_with_cartridge(flow, {"local": "vendor/cartridge"}, tmp_path)
    assert yaml.safe_load(out) == {
        "packages": [{"package": "dbt-labs/dbt_utils", "version": "1.3.0"}, {"local": "vendor/cartridge"}]
    }
    assert out.startswith("packages: [{package: dbt-labs/dbt_utils, version: 1.3.0}")
