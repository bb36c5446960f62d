from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.cdt import (
    Area,
    Catalog,
    ServiceCategory,
    check_code,
    default_category,
    demo_catalog,
    normalize_code,
    parse_catalog_csv,
    rule_for,
    suggest_code,
)
from odonto_desk.domain.errors import InvalidCode
from odonto_desk.domain.surfaces import parse_surfaces, surfaces_of
from odonto_desk.domain.teeth import PERMANENT_TEETH, Tooth


@pytest.mark.parametrize("bad", ["D23", "D23920", "2392", "X2392", "D23A2", "", "D-2392"])
def test_malformed_codes_are_refused(bad):
    with pytest.raises(InvalidCode) as err:
        normalize_code(bad)
    assert err.value.field == "code"


def test_code_normalisation():
    assert normalize_code(" d2392 ") == "D2392"


@pytest.mark.parametrize(("code", "category"), [
    ("D0120", ServiceCategory.DIAGNOSTIC), ("D1110", ServiceCategory.PREVENTIVE),
    ("D2392", ServiceCategory.RESTORATIVE), ("D3330", ServiceCategory.RESTORATIVE),
    ("D4341", ServiceCategory.PERIODONTAL), ("D5110", ServiceCategory.PROSTHODONTIC),
    ("D6010", ServiceCategory.ORAL_SURGERY), ("D6065", ServiceCategory.PROSTHODONTIC),
    ("D7140", ServiceCategory.ORAL_SURGERY), ("D8080", ServiceCategory.ORTHODONTIC),
    ("D9110", ServiceCategory.DIAGNOSTIC),
])
def test_default_categories(code, category):
    assert default_category(code) is category


@given(st.integers(0, 9999))
def test_every_code_has_a_category_and_a_rule(n):
    code = f"D{n:04d}"
    assert default_category(code) in ServiceCategory
    assert rule_for(code) is not None


@pytest.mark.parametrize(("surfaces", "code"), [("O", "D2391"), ("MO", "D2392"), ("MOD", "D2393"),
                                               ("MODB", "D2394"), ("MODBL", "D2394")])
def test_posterior_composite_by_surface_count(surfaces, code):
    tooth = Tooth("30")
    s = parse_surfaces(surfaces, tooth)
    assert suggest_code("composite", tooth, s) == code
    check_code(code, tooth, s)


def test_anterior_composite_family_for_anterior_teeth():
    tooth = Tooth("8")
    assert suggest_code("composite", tooth, parse_surfaces("MI", tooth)) == "D2331"


@given(st.sampled_from(PERMANENT_TEETH), st.data())
def test_suggested_code_always_passes_its_own_check(tooth, data):
    surfaces = data.draw(st.sets(st.sampled_from(surfaces_of(tooth)), min_size=1))
    for family in ("amalgam", "composite"):
        code = suggest_code(family, tooth, surfaces)
        assert code is not None
        check_code(code, tooth, surfaces)


@pytest.mark.parametrize(("code", "tooth", "surfaces", "field", "needle"), [
    ("D2392", "30", "MOD", "surfaces", "use D2393"),
    ("D2392", "8", "MI", "code", "posterior"),
    ("D2330", "30", "O", "code", "anterior"),
    ("D2740", "30", "MO", "surfaces", "no surfaces"),
    ("D2740", None, "", "tooth", "needs a tooth"),
    ("D3330", "5", "", "code", "molar"),
    ("D2931", "A", "", "tooth", "permanent"),
    ("D2930", "30", "", "tooth", "primary"),
    ("D4341", "30", "", "tooth", "quadrant"),
])
def test_code_rules(code, tooth, surfaces, field, needle):
    t = Tooth(tooth) if tooth else None
    s = parse_surfaces(surfaces, t) if t else frozenset()
    with pytest.raises(InvalidCode, match=needle) as err:
        check_code(code, t, s)
    assert err.value.field == field


def test_demo_catalog_has_own_labels_and_fees():
    cat = demo_catalog()
    assert len(cat) >= 40
    e = cat.get("D2392")
    assert e is not None and e.fee == Decimal("210.00") and e.label
    assert e.category is ServiceCategory.RESTORATIVE
    assert [x.code for x in cat.search("back white")][:4] == ["D2391", "D2392", "D2393", "D2394"]
    assert all(x.category is ServiceCategory.PREVENTIVE for x in cat.search("", ServiceCategory.PREVENTIVE))


def test_csv_import_reports_each_bad_row_and_keeps_good_ones():
    text = (
        "code,label,category,fee,surfaces_min,surfaces_max\n"
        "D2392,Two-surface white,restorative,210.00,,\n"
        "D23,Broken,,,,\n"
        "D2140,Amalgam,restorativ,100,,\n"
        "D1110,Prophy,preventive,-5,,\n"
        "D9999,Custom,lab_appliance,12.50,x,\n"
        "D2392,Again,,,,\n"
        "D0150,Exam,diagnostic,98,,\n"
    )
    result = parse_catalog_csv(text)
    assert [e.code for e in result.entries] == ["D2392", "D0150"]
    by_line = {(e.row, e.column) for e in result.errors}
    assert by_line == {(3, "code"), (4, "category"), (5, "fee"), (6, "surfaces_min"), (7, "code")}
    assert "already appears on line 2" in str(next(e for e in result.errors if e.row == 7))


def test_csv_import_header_problems():
    assert parse_catalog_csv("label,fee\nx,1\n").errors[0].column == "code"
    assert parse_catalog_csv("code,descriptor\nD0120,x\n").errors[0].column == "descriptor"


def test_csv_semicolon_and_bom():
    result = parse_catalog_csv("\ufeffcode;label;area\nD9999;Local;mouth\n")
    assert result.ok
    assert result.entries[0].rule.area is Area.MOUTH


def test_catalog_override_rules():
    imported = parse_catalog_csv("code,label,surfaces_min,surfaces_max\nD9999,Local code,1,2\n").entries
    cat = Catalog(imported)
    tooth = Tooth("3")
    cat.check("D9999", tooth, parse_surfaces("MO", tooth))
    with pytest.raises(InvalidCode):
        cat.check("D9999", tooth, parse_surfaces("MOD", tooth))
