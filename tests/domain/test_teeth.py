from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.errors import InvalidTooth
from odonto_desk.domain.teeth import (
    ALL_TEETH,
    PERMANENT_TEETH,
    PRIMARY_TEETH,
    SUPERNUMERARY_TEETH,
    Arch,
    NumberingSystem,
    Side,
    Tooth,
    ToothType,
    parse_tooth_range,
)

teeth = st.sampled_from(ALL_TEETH)
systems = st.sampled_from(list(NumberingSystem))

# The crosswalk of reference/fhir-dental.md §1.2 (Universal → FDI), every row.
CROSSWALK = {
    **{str(n): f for n, f in zip(range(1, 9), [18, 17, 16, 15, 14, 13, 12, 11], strict=True)},
    **{str(n): f for n, f in zip(range(9, 17), [21, 22, 23, 24, 25, 26, 27, 28], strict=True)},
    **{str(n): f for n, f in zip(range(17, 25), [38, 37, 36, 35, 34, 33, 32, 31], strict=True)},
    **{str(n): f for n, f in zip(range(25, 33), [41, 42, 43, 44, 45, 46, 47, 48], strict=True)},
    **dict(zip("ABCDE", [55, 54, 53, 52, 51], strict=True)),
    **dict(zip("FGHIJ", [61, 62, 63, 64, 65], strict=True)),
    **dict(zip("KLMNO", [75, 74, 73, 72, 71], strict=True)),
    **dict(zip("PQRST", [81, 82, 83, 84, 85], strict=True)),
}


def test_counts():
    assert len(PERMANENT_TEETH) == 32
    assert len(PRIMARY_TEETH) == 20
    assert len(SUPERNUMERARY_TEETH) == 52
    assert len(set(ALL_TEETH)) == 104


@pytest.mark.parametrize(("universal", "fdi"), sorted(CROSSWALK.items()))
def test_crosswalk_universal_to_fdi(universal, fdi):
    assert Tooth(universal).fdi == str(fdi)
    assert Tooth.parse(str(fdi), NumberingSystem.FDI) is Tooth(universal)


@given(teeth, systems)
def test_every_system_round_trips(tooth, system):
    assert Tooth.parse(tooth.format(system), system) is tooth


@given(teeth)
def test_renderings_are_unique_per_system(tooth):
    for system in NumberingSystem:
        others = [t for t in ALL_TEETH if t is not tooth and t.format(system) == tooth.format(system)]
        assert others == []


@given(teeth)
def test_interned_and_picklable(tooth):
    assert Tooth(tooth.universal) is tooth
    assert pickle.loads(pickle.dumps(tooth)) is tooth


@pytest.mark.parametrize(
    ("universal", "palmer", "haderup"),
    [("1", "UR8", "8+"), ("8", "UR1", "1+"), ("9", "UL1", "+1"), ("16", "UL8", "+8"),
     ("17", "LL8", "-8"), ("24", "LL1", "-1"), ("25", "LR1", "1-"), ("30", "LR6", "6-"),
     ("A", "URE", "05+"), ("J", "ULE", "+05"), ("K", "LLE", "-05"), ("T", "LRE", "05-"),
     ("E", "URA", "01+"), ("51", "UR8S", "8S+"), ("AS", "URES", "05S+")],
)
def test_palmer_and_haderup(universal, palmer, haderup):
    t = Tooth(universal)
    assert t.palmer == palmer
    assert t.haderup == haderup


def test_haderup_primary_uses_zero_prefix_not_letters():
    assert Tooth.parse("05+", "haderup") is Tooth("A")
    assert Tooth.parse("5+", "haderup") is Tooth("4")


def test_palmer_unicode_brackets_accepted():
    assert Tooth.parse("6⏌", "palmer") is Tooth("3")
    assert Tooth.parse("⎿1", "palmer") is Tooth("9")


@pytest.mark.parametrize(
    ("universal", "arch", "side", "ttype", "anterior"),
    [("1", Arch.MAXILLARY, Side.RIGHT, ToothType.THIRD_MOLAR, False),
     ("6", Arch.MAXILLARY, Side.RIGHT, ToothType.CANINE, True),
     ("8", Arch.MAXILLARY, Side.RIGHT, ToothType.CENTRAL_INCISOR, True),
     ("12", Arch.MAXILLARY, Side.LEFT, ToothType.FIRST_PREMOLAR, False),
     ("19", Arch.MANDIBULAR, Side.LEFT, ToothType.FIRST_MOLAR, False),
     ("27", Arch.MANDIBULAR, Side.RIGHT, ToothType.CANINE, True),
     ("30", Arch.MANDIBULAR, Side.RIGHT, ToothType.FIRST_MOLAR, False),
     ("A", Arch.MAXILLARY, Side.RIGHT, ToothType.SECOND_MOLAR, False),
     ("C", Arch.MAXILLARY, Side.RIGHT, ToothType.CANINE, True),
     ("L", Arch.MANDIBULAR, Side.LEFT, ToothType.FIRST_MOLAR, False),
     ("P", Arch.MANDIBULAR, Side.RIGHT, ToothType.CENTRAL_INCISOR, True)],
)
def test_anatomy(universal, arch, side, ttype, anterior):
    t = Tooth(universal)
    assert (t.arch, t.side, t.tooth_type, t.is_anterior) == (arch, side, ttype, anterior)


@given(teeth)
def test_supernumerary_shares_its_neighbours_anatomy(tooth):
    sup = tooth.supernumerary
    assert sup.is_supernumerary
    assert sup.base is tooth.base
    assert (sup.arch, sup.side, sup.tooth_type, sup.is_primary) == (
        tooth.arch, tooth.side, tooth.tooth_type, tooth.is_primary)
    assert sup.fdi_code is None  # FDI has no supernumerary notation on the wire


def test_primary_successors():
    assert Tooth("A").successor is Tooth("4")  # primary second molar → second premolar
    assert Tooth("E").successor is Tooth("8")
    assert Tooth("K").successor is Tooth("20")
    assert Tooth("T").successor is Tooth("29")
    assert Tooth("30").successor is None


@pytest.mark.parametrize(
    ("text", "system"),
    [("33", "universal"), ("0", "universal"), ("U", "universal"), ("50", "universal"), ("83", "universal"),
     ("19", "fdi"), ("49", "fdi"), ("56", "fdi"), ("99", "fdi"), ("UR9", "palmer"), ("XX1", "palmer"),
     ("URF", "palmer"), ("9+", "haderup"), ("06+", "haderup"), ("+", "haderup"), ("", "universal")],
)
def test_bad_teeth_are_refused_with_the_field(text, system):
    with pytest.raises(InvalidTooth) as err:
        Tooth.parse(text, system)
    assert err.value.field == "tooth"
    assert err.value.message


def test_fdi_99_explains_the_convention():
    with pytest.raises(InvalidTooth, match="18S"):
        Tooth.parse("99", "fdi")


def test_ranges():
    assert parse_tooth_range("A-T") == list(PRIMARY_TEETH)
    assert [t.universal for t in parse_tooth_range("2-5")] == ["2", "3", "4", "5"]
    assert parse_tooth_range("5-2") == parse_tooth_range("2-5")
    assert [t.universal for t in parse_tooth_range("18..28", "fdi")] == [str(n) for n in range(1, 17)]
    assert parse_tooth_range("-6", "haderup") == [Tooth("19")]
    with pytest.raises(InvalidTooth):
        parse_tooth_range("A-5")


def test_chart_positions_follow_the_dentists_view():
    assert Tooth("1").chart_index == (0, 0.0)
    assert Tooth("16").chart_index == (0, 15.0)
    assert Tooth("32").chart_index == (1, 0.0)
    assert Tooth("17").chart_index == (1, 15.0)
    # Primary teeth sit in the column of their successor; supernumeraries half a column distal.
    assert Tooth("A").chart_index == Tooth("4").chart_index
    assert Tooth("51").chart_index == (0, -0.5)
    assert Tooth("66").chart_index == (0, 15.5)


def test_pydantic_field_accepts_strings_and_serialises_universal():
    from pydantic import BaseModel, ValidationError

    class M(BaseModel):
        tooth: Tooth

    assert M(tooth="30").tooth is Tooth("30")
    assert M(tooth=8).tooth is Tooth("8")
    assert M(tooth="30").model_dump() == {"tooth": "30"}
    with pytest.raises(ValidationError, match="not a Universal tooth"):
        M(tooth="33")
