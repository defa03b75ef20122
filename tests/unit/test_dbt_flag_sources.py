"""dbt-common names the module behind each adapter behaviour flag; cartridge's walk up the frames names the same
one as dbt's `inspect.stack()` lookup, without reading every frame's source (seconds per dbt run in a big
process)."""

from __future__ import annotations

import inspect

from dbt_common.behavior_flags import BehaviorFlagRendered

from cartridge_bridge.dbt import runner as dbt_runner

FLAG = {"name": "some_flag", "default": False, "description": "a flag"}


def _source_with_dbts_lookup() -> str:
    """What dbt-common's own `_default_source` returns, called from here (kept, as dbt wrote it)."""
    for frame in inspect.stack():
        module = inspect.getmodule(frame[0])
        if module and module.__name__ != "dbt_common.behavior_flags":
            return module.__name__
    return "Unknown"


def test_the_walk_names_the_module_that_makes_the_flag() -> None:
    original = BehaviorFlagRendered.__dict__["_default_source"]
    try:
        dbt_runner._name_flag_sources_cheaply()
        assert BehaviorFlagRendered.__dict__["_default_source"] is not original
        flag = BehaviorFlagRendered(FLAG, {})
        assert flag._behavior_change_event.flag_source == __name__ == _source_with_dbts_lookup()
    finally:
        BehaviorFlagRendered._default_source = original  # type: ignore[method-assign]
    assert BehaviorFlagRendered(FLAG, {})._behavior_change_event.flag_source == __name__
