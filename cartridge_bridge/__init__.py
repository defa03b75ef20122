"""cartridge: plan, write and prove the dbt models for new raw warehouse tables.

Built in floors, each importing only from itself and the floors below (tests/test_import_layers.py checks
it; docs/development.md, "Architecture: floors", says why): shared parts at the bottom (errors and progress,
files/, sql/, config.py, dbt/), then the stages in pipeline order (gather/, context/, planning/, render/,
write/, verify/, review/), then api.py and the faces over it (demo/, cli/).
"""

__version__ = "0.1.0"
