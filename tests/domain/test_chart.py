from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from odonto_desk.domain.chart import KIND_RULES, ChartMark, MarkKind, MarkStatus, Material, kind_for_code
from odonto_desk.domain.errors import DomainError, InvalidSurface, from_validation_error
from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import ALL_TEETH, Tooth


def make(**kw):
    try:
        return ChartMark(**kw)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def test_design_example_mark():
    m = make(tooth="30", kind="filling", status="tp", surfaces="MO", material="composite", code="D2392")
    assert m.surfaces == {Surface.M, Surface.O}
    assert m.suggested_code() == "D2392"
    assert m.describe() == "30 MO composite filling D2392 (tp)"


@pytest.mark.parametrize(("kw", "field", "needle"), [
    (dict(tooth="33", kind="caries", status="cn", surfaces="M"), "tooth", "not a Universal tooth"),
    (dict(tooth="8", kind="caries", status="cn", surfaces="O"), "surfaces", "occlusal"),
    (dict(tooth="30", kind="caries", status="tp", surfaces="M"), "status", "condition"),
    (dict(tooth="30", kind="crown", status="cn"), "status", "procedure"),
    (dict(tooth="30", kind="crown", status="tp", surfaces="MO"), "surfaces", "whole tooth"),
    (dict(tooth="30", kind="filling", status="tp"), "surfaces", "at least 1"),
    (dict(tooth="30", kind="onlay", status="tp", surfaces="O"), "surfaces", "at least 2"),
    (dict(tooth="8", kind="sealant", status="tp"), "kind", "posterior"),
    (dict(tooth="A", kind="implant", status="tp"), "kind", "permanent"),
    (dict(tooth="30", kind="filling", status="tp", surfaces="MO", material="zirconia"), "material", "cannot be"),
    (dict(tooth="30", kind="root canal", status="c", material="gold"), "material", "no material"),
    (dict(tooth="30", kind="filling", status="tp", surfaces="MOD", code="D2392"), "surfaces", "D2393"),
    (dict(tooth="30", kind="caries", status="cn", surfaces="M", code="D2391"), "code", "condition"),
    (dict(tooth="30", kind="crown", status="tp", code="D23"), "code", "not a CDT code"),
])
def test_invalid_marks_name_the_field(kw, field, needle):
    with pytest.raises(DomainError, match=needle) as err:
        make(**kw)
    assert err.value.field == field


def test_v_and_facial_letters():
    m = make(tooth="8", kind="filling", status="c", surfaces="BV", material="composite")
    assert m.surfaces == {Surface.F, Surface.V}
    with pytest.raises(InvalidSurface):
        make(tooth="8", kind="filling", status="c", surfaces="O", material="composite")


def test_rct_allowed_on_primary_teeth():
    # Open Dental cannot draw RCT on primary teeth; pulpectomy is real, so we allow it.
    assert make(tooth="K", kind="root canal", status="c").tooth.is_primary


def test_removes_tooth():
    assert make(tooth="19", kind="extraction", status="c").removes_tooth
    assert not make(tooth="19", kind="extraction", status="tp").removes_tooth
    assert make(tooth="1", kind="missing", status="cn").removes_tooth


def test_json_round_trip_and_canonical_surface_order():
    m = make(tooth="3", kind="filling", status="eo", surfaces="DOM", material="amalgam", code="D2160",
             note="old amalgam")
    data = m.model_dump(mode="json")
    assert data["surfaces"] == ["M", "O", "D"]
    assert ChartMark.model_validate(data) == m


@given(st.sampled_from(ALL_TEETH), st.sampled_from(list(MarkKind)), st.sampled_from(list(MarkStatus)),
       st.data())
def test_any_mark_that_builds_round_trips(tooth, kind, status, data):
    surfaces = data.draw(st.sets(st.sampled_from(list("MODBLVIF")), max_size=4))
    try:
        m = ChartMark(tooth=tooth, kind=kind, status=status, surfaces="".join(surfaces))
    except ValidationError:
        return
    rule = KIND_RULES[kind]
    assert rule.condition == (m.status is MarkStatus.CONDITION)
    assert ChartMark.model_validate_json(m.model_dump_json()) == m


@pytest.mark.parametrize(("code", "kind", "material"), [
    ("D2392", MarkKind.FILLING, Material.COMPOSITE), ("D2150", MarkKind.FILLING, Material.AMALGAM),
    ("D2740", MarkKind.CROWN, Material.PORCELAIN), ("D3330", MarkKind.RCT, None),
    ("D7140", MarkKind.EXTRACTION, None), ("D6010", MarkKind.IMPLANT, Material.TITANIUM),
    ("D2643", MarkKind.ONLAY, Material.PORCELAIN), ("D1351", MarkKind.SEALANT, Material.RESIN),
])
def test_kind_for_code(code, kind, material):
    assert kind_for_code(code) == (kind, material)


def test_kind_for_non_charting_code():
    assert kind_for_code("D1110") is None


def test_frozen():
    m = make(tooth=Tooth("30"), kind="crown", status="tp")
    with pytest.raises(ValidationError):
        m.status = MarkStatus.COMPLETED  # type: ignore[misc]


# --- whole-tooth code suggestions ----------------------------------------------------------------


@pytest.mark.parametrize(("tooth", "kind", "material", "code"), [
    ("3", "sealant", "resin", "D1351"),
    ("K", "sealant", "resin", "D1351"),  # a primary molar takes a sealant too
    ("19", "crown", "zirconia", "D2740"),
    ("19", "crown", "porcelain fused to metal", "D2750"),
    ("30", "crown", "gold", "D2790"),
    ("K", "crown", "stainless steel", "D2930"),
    ("30", "crown", "stainless steel", "D2931"),
    ("8", "root canal", None, "D3310"),
    ("5", "root canal", None, "D3320"),
    ("14", "root canal", None, "D3330"),
    ("32", "extraction", None, "D7140"),
    ("8", "veneer", "porcelain", "D2962"),
])
def test_whole_tooth_work_suggests_its_usual_code(tooth, kind, material, code):
    mark = ChartMark(patient="p", tooth=tooth, kind=kind, status="tp", material=material)
    assert mark.suggested_code() == code


@pytest.mark.parametrize(("tooth", "kind", "material"), [
    ("K", "root canal", None),  # primary pulp therapy is the dentist's choice of code
    ("K", "crown", "zirconia"),  # only stainless steel has a primary crown code here
    ("14", "bridge pontic", "zirconia"),  # pontics depend on the bridge: the dentist picks
    ("19", "crown", None),
])
def test_no_code_is_suggested_where_there_is_no_single_one(tooth, kind, material):
    assert ChartMark(patient="p", tooth=tooth, kind=kind, status="tp", material=material).suggested_code() is None
