from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.chart import ChartMark, MarkKind, MarkStatus
from odonto_desk.domain.dentition import (
    SLOTS,
    Dentition,
    DentitionMode,
    SlotShows,
    default_mode,
    primary_in_slot,
    slot_of,
)
from odonto_desk.domain.errors import DomainError, InvalidTooth
from odonto_desk.domain.teeth import PERMANENT_TEETH, PRIMARY_TEETH, SUPERNUMERARY_TEETH, Tooth

REGULAR_TEETH = PERMANENT_TEETH + PRIMARY_TEETH


def watch(tooth: str | Tooth) -> ChartMark:
    """A mark any tooth can carry (a condition without surfaces or material)."""
    return ChartMark(tooth=tooth, kind=MarkKind.WATCH, status=MarkStatus.CONDITION)


def universals(teeth: list[Tooth]) -> list[str]:
    return [t.universal for t in teeth]


@pytest.mark.parametrize(("age", "mode"), [
    (0, DentitionMode.PRIMARY), (5, DentitionMode.PRIMARY), (6, DentitionMode.MIXED),
    (12, DentitionMode.MIXED), (13, DentitionMode.PERMANENT), (70, DentitionMode.PERMANENT),
])
def test_default_mode_age_bands(age, mode):
    assert default_mode(age) is mode


def test_default_mode_refuses_negative_age():
    with pytest.raises(DomainError) as err:
        default_mode(-1)
    assert err.value.field == "age_years"


def test_slots_of_primary_teeth_follow_their_successors():
    assert slot_of(Tooth("A")) == 4
    assert slot_of(Tooth("B")) == 5
    assert slot_of(Tooth("J")) == 13
    assert slot_of(Tooth("K")) == 20
    assert slot_of(Tooth("T")) == 29
    assert [s for s in SLOTS if primary_in_slot(s) is None] == [1, 2, 3, 14, 15, 16, 17, 18, 19, 30, 31, 32]
    with pytest.raises(InvalidTooth):
        slot_of(Tooth("51"))


def test_permanent_mode_shows_32_teeth_in_chart_order():
    shown = Dentition(DentitionMode.PERMANENT).shown()
    assert universals(shown) == [str(n) for n in range(1, 17)] + [str(n) for n in range(32, 16, -1)]


def test_primary_mode_shows_20_teeth_and_no_molar_slots():
    shown = Dentition(DentitionMode.PRIMARY).shown()
    assert universals(shown) == list("ABCDEFGHIJ") + list("TSRQPONMLK")


def test_mixed_mode_shows_primary_canines_and_molars_with_permanent_incisors_and_first_molars():
    shown = set(universals(Dentition(DentitionMode.MIXED).shown()))
    primary = {primary_in_slot(s).universal for s in (4, 5, 6, 11, 12, 13, 20, 21, 22, 27, 28, 29)}
    permanent = {str(n) for n in (7, 8, 9, 10, 23, 24, 25, 26, 3, 14, 19, 30)}
    assert shown == primary | permanent
    assert not shown & {str(n) for n in (1, 2, 15, 16, 17, 18, 31, 32)}


def test_a_mark_shows_its_tooth_whatever_the_mode():
    mixed = Dentition(DentitionMode.MIXED)
    assert "2" in universals(mixed.shown([watch("2")]))
    perm = universals(Dentition(DentitionMode.PERMANENT).shown([watch("B")]))
    assert "B" in perm and "5" not in perm  # B sits in slot 5, replacing the mode's choice there
    assert perm.index("B") == 4


def test_marks_on_a_primary_tooth_and_its_successor_show_both():
    shown = universals(Dentition(DentitionMode.MIXED).shown([watch("K"), watch("20")]))
    assert "K" in shown and "20" in shown


def test_a_marked_supernumerary_is_shown_beside_its_neighbour():
    shown = universals(Dentition(DentitionMode.PERMANENT).shown([watch("51")]))
    assert shown[:2] == ["51", "1"]  # half a column distal of tooth 1


def test_overrides_win_over_marks_and_mode():
    d = Dentition(DentitionMode.PERMANENT).with_hidden([Tooth("3")]).with_primary([Tooth("20")])
    shown = universals(d.shown([watch("3")]))
    assert "3" not in shown
    assert "K" in shown and "20" not in shown
    assert "4" in universals(Dentition(DentitionMode.PRIMARY).with_permanent([Tooth("A")]).shown())


def test_with_mixed_pins_slots_to_the_mixed_picture():
    d = Dentition(DentitionMode.PERMANENT).with_mixed([Tooth(str(n)) for n in (1, 4, 8)])
    assert d.override_map == {1: SlotShows.NONE, 4: SlotShows.PRIMARY, 8: SlotShows.PERMANENT}
    shown = universals(d.shown())
    assert "1" not in shown and "A" in shown and "8" in shown and "2" in shown


def test_with_mode_clears_overrides_but_keeps_supernumeraries():
    d = Dentition().with_hidden([Tooth("3")]).with_supernumerary(Tooth("AS"))
    switched = d.with_mode(DentitionMode.PRIMARY)
    assert switched.override_map == {}
    assert switched.supernumeraries == {Tooth("AS")}


def test_primary_override_refused_on_a_permanent_molar_slot():
    with pytest.raises(InvalidTooth, match="no primary tooth"):
        Dentition().with_primary([Tooth("30")])


def test_supernumerary_rules():
    with pytest.raises(InvalidTooth, match="53"):
        Dentition().with_supernumerary(Tooth("3"))
    with pytest.raises(InvalidTooth):
        Dentition(supernumeraries=frozenset({Tooth("3")}))
    d = Dentition().with_supernumerary(Tooth("51"))
    assert "51" in universals(d.shown())


def test_bad_override_values_are_refused():
    with pytest.raises(DomainError, match="slot 33"):
        Dentition(overrides={33: "none"})
    with pytest.raises(DomainError, match="primary, permanent or none"):
        Dentition(overrides={3: "maybe"})


def test_dentition_is_an_immutable_value():
    base = Dentition(DentitionMode.MIXED)
    changed = base.with_permanent([Tooth("4")])
    assert base.override_map == {}
    assert changed.override_map == {4: SlotShows.PERMANENT}
    assert Dentition(overrides={4: "none", 5: "primary"}) == Dentition(overrides={5: "primary", 4: "none"})
    assert len({Dentition(overrides={4: "none"}), Dentition(overrides=((4, SlotShows.NONE),))}) == 1
    with pytest.raises(TypeError):
        changed.override_map[5] = SlotShows.NONE  # type: ignore[index]


overrides_st = st.dictionaries(st.sampled_from(SLOTS), st.sampled_from(list(SlotShows))).map(
    lambda d: {k: v for k, v in d.items() if v is not SlotShows.PRIMARY or primary_in_slot(k) is not None})
dentitions = st.builds(Dentition, st.sampled_from(list(DentitionMode)), overrides_st,
                       st.frozensets(st.sampled_from(SUPERNUMERARY_TEETH), max_size=3))


@given(dentitions)
def test_json_round_trip(d):
    assert Dentition.from_json(d.to_json()) == d


@given(st.sampled_from(list(DentitionMode)), st.sets(st.sampled_from(REGULAR_TEETH + SUPERNUMERARY_TEETH)))
def test_without_overrides_every_marked_tooth_is_shown_once(mode, marked):
    shown = Dentition(mode).shown([watch(t) for t in marked])
    assert set(marked) <= set(shown)
    assert len(shown) == len(set(shown))


@given(dentitions)
def test_without_marks_each_slot_shows_at_most_one_tooth_and_overrides_hold(d):
    shown = d.shown()
    slots = [slot_of(t) for t in shown if not t.is_supernumerary]
    assert len(slots) == len(set(slots))
    for slot, shows in d.override_map.items():
        expected = {SlotShows.PERMANENT: Tooth(str(slot)), SlotShows.PRIMARY: primary_in_slot(slot)}.get(shows)
        in_slot = [t for t in shown if not t.is_supernumerary and slot_of(t) == slot]
        assert in_slot == ([expected] if expected else [])
    assert d.supernumeraries <= set(shown)
