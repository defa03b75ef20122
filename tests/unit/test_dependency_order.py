"""The one cycle check and dependency order shared by the plan checks, the outline, the repairer and placement."""

from __future__ import annotations

from cartridge_bridge.planning.dependencies import cycle, dependency_order


def _order(needs: dict[str, list[str]]) -> list[str]:
    return dependency_order(list(needs), lambda name: name, lambda name: needs[name])


def test_a_cycle_is_written_around_and_back() -> None:
    found = cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    assert found is not None
    names = found.split(" → ")
    assert names[0] == names[-1] and set(names) == {"a", "b", "c"}


def test_no_cycle_in_a_chain_nor_through_outside_names() -> None:
    assert cycle({"mart": ["stg"], "stg": ["shop.orders"]}) is None
    assert cycle({}) is None


def test_order_moves_only_what_a_dependency_forces() -> None:
    assert _order({"mart": ["stg_b"], "stg_a": [], "stg_b": [], "int": ["stg_a"]}) == [
        "stg_a",
        "stg_b",
        "mart",
        "int",
    ]
    assert _order({"x": [], "y": [], "z": []}) == ["x", "y", "z"]


def test_a_need_no_item_meets_holds_its_item_at_the_end() -> None:
    # Why placement passes only the names the plan itself provides (a source table is not waited for).
    assert _order({"a": ["elsewhere"], "b": []}) == ["b", "a"]


def test_a_cycle_keeps_its_items_in_order_at_the_end() -> None:
    assert _order({"a": ["b"], "b": ["a"], "c": []}) == ["c", "a", "b"]
