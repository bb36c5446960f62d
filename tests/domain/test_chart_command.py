from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from odonto_desk.domain.cdt import demo_catalog
from odonto_desk.domain.chart import KIND_RULES, ChartMark, MarkKind, MarkStatus, Material, SurfaceUse
from odonto_desk.domain.chart_command import (
    DENTITION_WORDS,
    KIND_WORDS,
    MATERIAL_WORDS,
    STATUS_WORDS,
    CommandError,
    DentitionAction,
    DentitionCommand,
    MarkCommand,
    complete,
    format_command,
    parse_command,
)
from odonto_desk.domain.dentition import Dentition, DentitionMode
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.surfaces import Surface, surfaces_of
from odonto_desk.domain.teeth import ALL_TEETH, PRIMARY_TEETH, NumberingSystem, Tooth

S = Surface


def marks_of(text: str, **kw) -> tuple[ChartMark, ...]:
    command = parse_command(text, **kw)
    assert isinstance(command, MarkCommand)
    return command.marks


def one(text: str, **kw) -> ChartMark:
    (mark,) = marks_of(text, **kw)
    return mark


def fails(text: str, **kw) -> CommandError:
    with pytest.raises(CommandError) as err:
        parse_command(text, **kw)
    return err.value


def underlined(text: str, err: CommandError) -> str:
    return text[err.span[0]:err.span[1]]


# --- the examples that must work -------------------------------------------------------------


def test_composite_filling_gets_the_three_surface_posterior_code():
    m = one("14 MOD comp tp")
    assert (m.tooth, m.kind, m.material, m.status) == (Tooth("14"), MarkKind.FILLING, Material.COMPOSITE,
                                                       MarkStatus.TREATMENT_PLANNED)
    assert m.surfaces == {S.M, S.O, S.D}
    assert m.code == "D2393"


def test_anterior_composite_gets_the_anterior_code():
    assert one("8 MID comp").code == "D2332"


def test_completed_zirconia_crown():
    m = one("3 crn zr c")
    assert (m.kind, m.material, m.status, m.surfaces) == (MarkKind.CROWN, Material.ZIRCONIA, MarkStatus.COMPLETED,
                                                          frozenset())


@pytest.mark.parametrize(("text", "kind", "status"), [
    ("19 ext tp", MarkKind.EXTRACTION, MarkStatus.TREATMENT_PLANNED),
    ("30 rct c", MarkKind.RCT, MarkStatus.COMPLETED),
    ("30 pc eo", MarkKind.POST_CORE, MarkStatus.EXISTING_OTHER),
    ("30 imp ti r", MarkKind.IMPLANT, MarkStatus.REFERRED),
    ("4 root", MarkKind.RETAINED_ROOT, MarkStatus.CONDITION),
    ("4 impacted", MarkKind.IMPACTED, MarkStatus.CONDITION),
    ("4 fx", MarkKind.FRACTURE, MarkStatus.CONDITION),
    ("4 watch", MarkKind.WATCH, MarkStatus.CONDITION),
    ("4 pontic pfm", MarkKind.PONTIC, MarkStatus.TREATMENT_PLANNED),
    ("5 abut pfm ec", MarkKind.ABUTMENT, MarkStatus.EXISTING_CURRENT),
])
def test_kind_words_and_default_status(text, kind, status):
    m = one(text)
    assert (m.kind, m.status) == (kind, status)


def test_veneer_with_the_facial_letter():
    m = one("8 F ven porc")
    assert (m.kind, m.material, m.surfaces) == (MarkKind.VENEER, Material.PORCELAIN, frozenset())
    err = fails("8 L ven porc")  # only the facial letter is implied by a veneer
    assert underlined("8 L ven porc", err) == "L"
    assert "takes no surfaces" in err.message


def test_a_bare_code_decides_kind_and_material():
    m = one("30 MO D2392 tp")
    assert (m.kind, m.material, m.code, m.surfaces) == (MarkKind.FILLING, Material.COMPOSITE, "D2392",
                                                        {S.M, S.O})
    assert one("30 mo 2392").code == "D2392"  # the D is optional


def test_a_code_needs_its_surfaces():
    text = "30 D2392 tp"
    err = fails(text)
    assert err.message == "D2392 needs exactly 2 surfaces, got 0 (none)"
    assert underlined(text, err) == "D2392"


def test_explicit_code_must_chart_as_the_same_thing():
    text = "14 MOD comp D2160"
    err = fails(text)
    assert err.message == "D2160 charts as amalgam filling, not as composite filling"
    assert underlined(text, err) == "D2160"
    text = "30 MO comp D2393"
    err = fails(text)
    assert "D2392" in err.message and underlined(text, err) == "MO"


def test_a_code_that_is_not_on_the_chart():
    text = "30 D0120"
    err = fails(text)
    assert "not drawn on the tooth chart" in err.message
    assert underlined(text, err) == "D0120"


def test_comma_list_makes_one_mark_per_tooth():
    ms = marks_of("2,15 seal")
    assert [m.tooth.universal for m in ms] == ["2", "15"]
    assert {m.kind for m in ms} == {MarkKind.SEALANT}
    assert len({m.id for m in ms}) == 2


def test_fdi_range_is_the_upper_arch():
    ms = marks_of("18-28 mis", numbering=NumberingSystem.FDI)
    assert [m.tooth.universal for m in ms] == [str(n) for n in range(1, 17)]
    assert all(m.status is MarkStatus.CONDITION for m in ms)


def test_palmer_and_haderup_teeth():
    m = one("UR6 crn pfm c", numbering="palmer")
    assert (m.tooth, m.material) == (Tooth("3"), Material.PFM)
    assert one("-6 MO amal", numbering="haderup").tooth == Tooth("19")
    assert [m.tooth.universal for m in marks_of("8+..6+ seal", numbering="haderup")] == ["1", "2", "3"]


def test_surfaces_may_follow_the_kind():
    m = one("19 car MO")
    assert (m.kind, m.surfaces, m.status, m.code) == (MarkKind.CARIES, {S.M, S.O}, MarkStatus.CONDITION, None)


def test_words_are_case_insensitive_and_b_f_fold_to_the_tooth():
    m = one("14 mod COMP Tp")
    assert m.surfaces == {S.M, S.O, S.D}
    assert one("8 MF comp").surfaces == {S.M, S.F}
    assert one("30 F comp").surfaces == {S.B}


def test_either_word_is_a_material_when_something_else_says_what():
    assert one("8 ven comp").material is Material.COMPOSITE
    assert one("14 MO filling comp").material is Material.COMPOSITE
    assert one("14 MO amg").material is Material.AMALGAM


def test_patient_date_and_catalog():
    today = dt.date(2024, 5, 6)
    m = one("14 MOD comp", patient="pat-1", today=today, catalog=demo_catalog())
    assert (m.patient, m.date, m.code) == ("pat-1", today, "D2393")
    # D2620 (2-surface ceramic inlay) is not in the demo list: no code is filled in.
    assert one("30 MO inlay porc", catalog=demo_catalog()).code is None
    assert one("30 MO inlay porc").code == "D2620"
    text = "30 MO inlay porc D2620"
    err = fails(text, catalog=demo_catalog())
    assert "not in the practice's procedure code list" in err.message
    assert underlined(text, err) == "D2620"


# --- dentition commands --------------------------------------------------------------------


def test_primary_range_command():
    command = parse_command("A-T prim")
    assert command == DentitionCommand(PRIMARY_TEETH, DentitionAction.PRIMARY)
    shown = command.apply(Dentition(DentitionMode.PERMANENT)).shown()
    assert {t.universal for t in shown} == {*"ABCDEFGHIJKLMNOPQRST", "1", "2", "3", "14", "15", "16", "17",
                                           "18", "19", "30", "31", "32"}


def test_supernumerary_commands():
    assert parse_command("51 super") == DentitionCommand((Tooth("51"),), DentitionAction.SUPERNUMERARY)
    command = parse_command("3 sn")
    assert command == DentitionCommand((Tooth("53"),), DentitionAction.SUPERNUMERARY)
    assert command.apply(Dentition()).supernumeraries == {Tooth("53")}


def test_mode_word_alone_switches_the_whole_chart():
    command = parse_command("mixed")
    assert command == DentitionCommand((), DentitionAction.MIXED)
    before = Dentition(DentitionMode.PERMANENT).with_hidden([Tooth("8")])
    assert command.apply(before) == Dentition(DentitionMode.MIXED)


def test_range_of_mixed_and_permanent_slots():
    d = parse_command("4-6 mixed").apply(Dentition())
    assert [t.universal for t in d.shown()][:6] == ["1", "2", "3", "A", "B", "C"]
    d = parse_command("a perm").apply(Dentition(DentitionMode.PRIMARY))
    assert "4" in [t.universal for t in d.shown()]


def test_dentition_command_errors():
    text = "1-32 prim"
    err = fails(text)
    assert err.message == "tooth 1 is a permanent molar: no primary tooth comes before it"
    assert underlined(text, err) == "1-32"
    text = "A-T prim tp"
    err = fails(text)
    assert underlined(text, err) == "tp" and "takes nothing else" in err.message


# --- errors: message and span --------------------------------------------------------------


@pytest.mark.parametrize(("text", "token", "message"), [
    ("33 crn", "33", "tooth 33 does not exist in Universal numbering"),
    ("30 I comp", "I", "tooth 30 is a posterior tooth (first molar): it has no incisal edge (I); "
                       "use O for the occlusal surface"),
    ("8 O comp", "O", "tooth 8 is an anterior tooth (central incisor): it has no occlusal surface (O); "
                      "use I for the incisal edge"),
    ("14 MOD compp", "compp", "'compp' is not a procedure or condition; did you mean 'comp'?"),
    ("3 crn comp", "comp", "a crown cannot be composite (use gold, metal, porcelain, porcelain fused to metal, "
                           "resin, stainless steel, temporary, zirconia)"),
    ("3 MO crn", "MO", "a crown covers the whole tooth and takes no surfaces (got MO)"),
    ("14 MOD comp xx", "xx", "'xx' is not a material, status, surface or CDT code"),
    ("14 MOD comp tpp", "tpp", "'tpp' is not a material, status, surface or CDT code; did you mean 'tp'?"),
    ("19 car MO tp", "tp", "caries is a condition: its status is 'condition', not 'treatment planned'"),
    ("19 ext cn", "cn", "extraction is a procedure: give it a status such as treatment planned or completed"),
    ("30 MOM comp", "MOM", "surface M is given twice"),
    ("3 crn zr pfm", "pfm", "'zr' and 'pfm' are both materials: give one"),
    ("3 crn zr c tp", "tp", "'c' and 'tp' are both statuses: give one"),
    ("3 crn ext", "ext", "'crn' and 'ext' are both things to chart: give one"),
    ("14 MOD comp amal", "amal", "'comp' already says composite; 'amal' says amalgam: give one"),
    ("30 rct gold", "gold", "a root canal has no material"),
    ("A imp", "imp", "an implant is for permanent teeth; tooth A is primary"),
    ("3,,4 crn", "", "an empty place in the list of teeth: separate teeth with single commas"),
    ("A-3 crn", "A-3", "'A-3': a range must join two regular teeth of one dentition (e.g. 2-15 or A-T)"),
])
def test_error_message_and_span(text, token, message):
    err = fails(text)
    assert err.message == message
    assert underlined(text, err) == token
    assert isinstance(err, DomainError)


def test_error_spans_for_missing_words():
    err = fails("")
    assert err.span == (0, 0) and "e.g. '14 MOD comp tp'" in err.message
    err = fails("14")
    assert err.span == (2, 2)
    assert err.message == "nothing to chart on 14: add what to chart, e.g. '14 MOD comp tp' or '14 crn zr c'"
    err = fails("14 MOD tp  ")
    assert err.span == (9, 9) and err.message.startswith("say what to chart")


def test_errors_on_one_tooth_of_many_name_it():
    text = "6-11 seal"
    err = fails(text)
    assert err.message == "tooth 6: a sealant is for posterior teeth; tooth 6 is a canine"
    assert underlined(text, err) == "seal"


def test_numbering_system_named_in_tooth_errors():
    err = fails("19 crn", numbering="fdi")
    assert err.message == "tooth 19 does not exist in FDI numbering"
    assert underlined("30-33 crn", fails("30-33 crn")) == "30-33"


# --- format and parse round trip -------------------------------------------------------------


def test_vocabularies_cannot_be_mistaken_for_surfaces_or_codes():
    for word in [*KIND_WORDS, *MATERIAL_WORDS, *STATUS_WORDS, *DENTITION_WORDS]:
        assert set(word.upper()) - set("MOIDBFLV"), word
        assert not word[-1].isdigit(), word
    assert set(DENTITION_WORDS).isdisjoint({*KIND_WORDS, *MATERIAL_WORDS, *STATUS_WORDS})
    assert set(STATUS_WORDS).isdisjoint({*KIND_WORDS, *MATERIAL_WORDS})


def test_format_command_examples():
    assert format_command(one("14 MOD comp tp")) == "14 MOD comp tp D2393"
    assert format_command(one("3 crn zr c"), NumberingSystem.PALMER) == "UR6 crn zr c D2740"
    assert format_command(one("30 MO filling temp")) == "30 MO filling temp tp"


@st.composite
def valid_marks(draw) -> ChartMark:
    tooth = draw(st.sampled_from(ALL_TEETH))
    kind = draw(st.sampled_from(list(MarkKind)))
    rule = KIND_RULES[kind]
    status = MarkStatus.CONDITION if rule.condition else draw(
        st.sampled_from([s for s in MarkStatus if s is not MarkStatus.CONDITION]))
    surfaces = frozenset() if rule.surfaces is SurfaceUse.NONE else draw(st.frozensets(st.sampled_from(
        surfaces_of(tooth))))
    material = draw(st.none() | st.sampled_from(sorted(rule.materials))) if rule.materials else None
    try:
        mark = ChartMark(tooth=tooth, kind=kind, status=status, surfaces=surfaces, material=material)
    except (ValidationError, DomainError):
        assume(False)
    suggested = mark.suggested_code()
    # The command fills in the suggested code, so the mark it should give back carries it.
    return ChartMark(**{**mark.model_dump(), "code": suggested}) if suggested else mark


@given(valid_marks(), st.sampled_from(list(NumberingSystem)))
def test_format_then_parse_gives_the_same_mark(mark, numbering):
    text = format_command(mark, numbering)
    back = one(text, numbering=numbering)
    assert back.model_dump(exclude={"id", "date"}) == mark.model_dump(exclude={"id", "date"})


# --- completion ----------------------------------------------------------------------------


def test_complete_teeth_and_first_words():
    assert complete("3") == ["3", "30", "31", "32"]
    assert complete("UR", numbering="palmer")[:3] == ["UR8", "UR7", "UR6"]
    after_teeth = complete("14 ")
    assert {"M", "O", "D", "B", "L", "V", "comp", "crn", "car", "prim"} <= set(after_teeth)
    assert "I" not in after_teeth and "F" not in after_teeth  # 14 is a molar
    assert "I" in complete("8 ")


def test_complete_extends_a_surface_word():
    assert complete("14 MO") == ["MOD", "MOB", "MOL", "MOV"]


def test_complete_after_the_kind_offers_its_materials_and_statuses():
    crown = complete("3 crn ")
    assert {"zr", "pfm", "gold", "ssc", "tp", "c", "ec", "eo", "r"} <= set(crown)
    assert "amal" not in crown and "cn" not in crown and "M" not in crown
    assert complete("19 car ") == ["M", "O", "D", "B", "L", "V", "cn"]
    assert complete("14 MOD comp ") == ["tp", "c", "ec", "eo", "r"]  # comp already names the material
    assert complete("3 crn z") == ["zr"]
    assert complete("3 crn zr c ") == []


def test_complete_gives_nothing_after_a_bad_tooth():
    assert complete("99 ") == []
