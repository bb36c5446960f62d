from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.errors import DomainError, InvalidMeasurement
from odonto_desk.domain.perio import (
    SITES,
    Entrance,
    Flag,
    Grade,
    Measure,
    PerioExam,
    Site,
    ToothState,
    furcation_entrances,
    mgj_charted,
)
from odonto_desk.domain.perio_indices import (
    Ratio,
    bleeding_index,
    calculus_index,
    compare,
    mean_cal,
    mean_pd,
    pd_counts,
    plaque_index,
    site_change,
    summarize,
)
from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import PERMANENT_TEETH, Tooth


def snapshot(exam: PerioExam) -> dict:
    return exam.to_dict()


# --- sites -------------------------------------------------------------------------------


def test_site_letters_follow_the_tooth():
    assert Site.DB.surfaces(Tooth("30")) == (Surface.D, Surface.B)
    assert Site.DB.label(Tooth("8")) == "DF"
    assert Site.ML.label(Tooth("3")) == "ML"
    assert Site.L.surfaces(Tooth("24")) == (Surface.L,)


@pytest.mark.parametrize(("text", "site"), [("db", Site.DB), ("F", Site.B), ("mf", Site.MB), ("P", Site.L),
                                            ("DP", Site.DL), (" ml ", Site.ML)])
def test_site_aliases(text, site):
    assert Site.parse(text) is site


def test_unknown_site_names_the_field():
    with pytest.raises(InvalidMeasurement) as err:
        Site.parse("MO")
    assert err.value.field == "site"


# --- values and their ranges -------------------------------------------------------------


@pytest.mark.parametrize(("setter", "value", "field"), [
    ("set_pd", 25, "pd"), ("set_pd", -1, "pd"), ("set_pd", 16, "pd"), ("set_pd", 3.5, "pd"),
    ("set_pd", True, "pd"), ("set_pd", "4", "pd"),
    ("set_gm", -11, "gm"), ("set_gm", 16, "gm"),
    ("set_mgj", 16, "mgj"), ("set_mgj", -1, "mgj"),
])
def test_out_of_range_values_are_refused_and_name_the_field(setter, value, field):
    exam = PerioExam()
    before = snapshot(exam)
    with pytest.raises(InvalidMeasurement) as err:
        getattr(exam, setter)(3, "MB", value)
    assert err.value.field == field
    assert snapshot(exam) == before


@pytest.mark.parametrize(("setter", "value"), [("set_pd", 0), ("set_pd", 15), ("set_gm", -10), ("set_gm", 15),
                                               ("set_mgj", 0), ("set_mgj", 15)])
def test_range_ends_are_accepted(setter, value):
    exam = PerioExam()
    getattr(exam, setter)(30, Site.B, value)
    assert getattr(exam, setter.removeprefix("set_"))(30, Site.B) == value


def test_none_clears_a_value():
    exam = PerioExam()
    exam.set_pd(3, "MB", 4)
    exam.set_pd(3, "MB", None)
    assert exam.pd(3, "MB") is None


def test_primary_and_supernumerary_teeth_are_not_charted():
    exam = PerioExam()
    for tooth in ("A", "51"):
        with pytest.raises(InvalidMeasurement) as err:
            exam.set_pd(tooth, "B", 3)
        assert err.value.field == "tooth"
    with pytest.raises(DomainError):
        exam.set_pd(33, "B", 3)


def test_cal_is_pd_plus_gm_and_needs_both():
    exam = PerioExam()
    exam.set_pd(19, "DB", 5)
    assert exam.cal(19, "DB") is None
    exam.set_gm(19, "DB", 2)  # 2 mm recession
    assert exam.cal(19, "DB") == 7
    exam.set_gm(19, "DB", -3)  # margin 3 mm coronal: a pseudopocket
    assert exam.cal(19, "DB") == 2
    assert exam.reading(19, "DB").cal == 2
    exam.set_pd(19, "DB", None)
    assert exam.cal(19, "DB") is None


def test_mgj_is_refused_on_palatal_sites_only():
    exam = PerioExam()
    for site in ("DL", "L", "ML"):
        with pytest.raises(InvalidMeasurement) as err:
            exam.set_mgj(3, site, 4)
        assert err.value.field == "mgj"
    assert snapshot(exam) == snapshot(PerioExam(id=exam.id))
    exam.set_mgj(3, "B", 4)  # maxillary facial
    exam.set_mgj(30, "L", 3)  # mandibular lingual
    exam.set_mgj(30, "MB", 2)
    assert (exam.mgj(3, "B"), exam.mgj(30, "L"), exam.mgj(30, "MB")) == (4, 3, 2)


def test_set_value_picks_the_row_and_refuses_non_numbers():
    exam = PerioExam()
    exam.set_value(Measure.GM, 14, "ML", 1)
    exam.set_value("pd", 14, "ML", 3)
    assert (exam.pd(14, "ML"), exam.gm(14, "ML")) == (3, 1)
    with pytest.raises(InvalidMeasurement) as err:
        exam.set_value("bleeding", 14, "ML", 1)
    assert err.value.field == "measure"


def test_set_many_is_all_or_nothing():
    exam = PerioExam()
    exam.set_many("pd", [(3, "DB", 3), (3, "B", 2), (3, "MB", 4)])
    assert [exam.pd(3, s) for s in ("DB", "B", "MB")] == [3, 2, 4]
    before = snapshot(exam)
    with pytest.raises(InvalidMeasurement) as err:
        exam.set_many("pd", [(4, "DB", 5), (4, "B", 25), (4, "MB", 4)])
    assert err.value.field == "pd"
    assert snapshot(exam) == before


def test_flags_set_toggle_and_validate():
    exam = PerioExam()
    exam.set_flag(3, "MB", "bleeding")
    assert exam.flag(3, "MB", Flag.BLEEDING)
    assert exam.toggle_flag(3, "MB", "Bleeding") is False
    assert not exam.flag(3, "MB", "bleeding")
    assert exam.toggle_flag(3, "MB", Flag.PLAQUE) is True
    with pytest.raises(InvalidMeasurement) as err:
        exam.set_flag(3, "MB", "pus")
    assert err.value.field == "flag"


# --- tooth values ------------------------------------------------------------------------


def test_mobility_grades_and_scales():
    exam = PerioExam()
    exam.set_mobility(8, 2)
    assert exam.mobility(8) == Grade(2, "miller")
    with pytest.raises(InvalidMeasurement) as err:
        exam.set_mobility(8, 4)
    assert err.value.field == "mobility"
    with pytest.raises(InvalidMeasurement) as err:
        exam.set_mobility(8, 1, "munsell")
    assert err.value.field == "scale"
    assert exam.mobility(8) == Grade(2, "miller")


def test_furcation_entrances_by_tooth():
    assert furcation_entrances(Tooth("3")) == (Entrance.M, Entrance.D, Entrance.B)
    assert furcation_entrances(Tooth("30")) == (Entrance.B, Entrance.L)
    assert furcation_entrances(Tooth("5")) == (Entrance.M, Entrance.D)
    assert furcation_entrances(Tooth("12")) == (Entrance.M, Entrance.D)
    assert furcation_entrances(Tooth("4")) == ()  # upper second premolar
    assert furcation_entrances(Tooth("21")) == ()  # lower first premolar


@pytest.mark.parametrize("tooth", [8, 9, 24, 6])
def test_furcation_on_a_tooth_without_one_is_refused(tooth):
    exam = PerioExam()
    with pytest.raises(InvalidMeasurement) as err:
        exam.set_furcation(tooth, "B", 1)
    assert err.value.field == "furcation"
    assert exam.to_dict()["furcation"] == []


def test_furcation_entrance_and_class_rules():
    exam = PerioExam()
    exam.set_furcation(30, "b", 2)
    assert exam.furcation(30, "B") == Grade(2, "hamp")
    with pytest.raises(InvalidMeasurement):
        exam.set_furcation(30, "M", 1)  # lower molars open buccally and lingually only
    with pytest.raises(InvalidMeasurement):
        exam.set_furcation(30, "B", 4)  # Hamp stops at III
    exam.set_furcation(30, "L", 4, "glickman")
    assert exam.furcation(30, "L") == Grade(4, "glickman")
    with pytest.raises(InvalidMeasurement) as err:
        exam.furcation(30, "X")
    assert err.value.field == "furcation"


def test_implants_have_no_furcation():
    exam = PerioExam()
    exam.mark_implant(3)
    with pytest.raises(InvalidMeasurement):
        exam.set_furcation(3, "M", 1)
    exam.mark_implant(3, False)
    exam.set_furcation(3, "M", 1)
    with pytest.raises(InvalidMeasurement) as err:
        exam.mark_implant(3)
    assert err.value.field == "state"
    assert exam.tooth_state(3) is ToothState.PRESENT


# --- missing teeth -----------------------------------------------------------------------


def charted_tooth_3() -> PerioExam:
    exam = PerioExam()
    exam.set_pd(3, "MB", 5)
    exam.set_gm(3, "MB", 1)
    exam.set_mgj(3, "B", 4)
    exam.set_flag(3, "MB", "bleeding")
    exam.set_mobility(3, 1)
    exam.set_furcation(3, "M", 2)
    return exam


def test_missing_hides_values_then_restores_them():
    exam = charted_tooth_3()
    exam.mark_missing(3)
    assert exam.is_missing(3)
    assert (exam.pd(3, "MB"), exam.gm(3, "MB"), exam.cal(3, "MB"), exam.mgj(3, "B")) == (None,) * 4
    assert not exam.flag(3, "MB", "bleeding")
    assert exam.mobility(3) is None and exam.furcation(3, "M") is None
    assert exam.reading(3, "MB").pd is None
    assert Tooth("3") not in exam.counted_teeth()
    exam.mark_missing(3, False)
    assert (exam.pd(3, "MB"), exam.cal(3, "MB"), exam.mgj(3, "B")) == (5, 6, 4)
    assert exam.flag(3, "MB", "bleeding") and exam.mobility(3) == Grade(1, "miller")
    assert exam.furcation(3, "M") == Grade(2, "hamp")


@pytest.mark.parametrize("write", [
    lambda e: e.set_pd(3, "B", 3), lambda e: e.set_gm(3, "B", 1), lambda e: e.set_mgj(3, "B", 2),
    lambda e: e.set_flag(3, "B", "plaque"), lambda e: e.toggle_flag(3, "B", "plaque"),
    lambda e: e.set_mobility(3, 1), lambda e: e.set_furcation(3, "D", 1),
    lambda e: e.set_many("pd", [(2, "B", 3), (3, "B", 3)]),
])
def test_values_on_a_missing_tooth_are_refused_and_the_exam_is_unchanged(write):
    exam = charted_tooth_3()
    exam.mark_missing(3)
    before = snapshot(exam)
    with pytest.raises(InvalidMeasurement) as err:
        write(exam)
    assert err.value.field == "tooth"
    assert snapshot(exam) == before


def test_hidden_values_survive_the_record():
    exam = charted_tooth_3()
    exam.mark_missing(3)
    back = PerioExam.from_dict(exam.to_dict())
    assert back == exam and back.pd(3, "MB") is None
    back.mark_missing(3, False)
    assert back.pd(3, "MB") == 5


def test_bad_tooth_state():
    with pytest.raises(InvalidMeasurement) as err:
        PerioExam().set_tooth_state(3, "extracted")
    assert err.value.field == "state"


# --- copies ------------------------------------------------------------------------------


def test_copy_from_replaces_only_the_chosen_measures():
    old = charted_tooth_3()
    new = PerioExam()
    new.set_pd(3, "MB", 2)
    new.set_gm(4, "B", 3)
    new.copy_from(old, ["pd", Measure.BLEEDING])
    assert new.pd(3, "MB") == 5 and new.flag(3, "MB", "bleeding")
    assert new.gm(4, "B") == 3 and new.gm(3, "MB") is None and new.mobility(3) is None
    with pytest.raises(InvalidMeasurement):
        new.copy_from(old, ["probing"])


def test_copy_from_never_leaves_furcation_on_an_implant():
    old = charted_tooth_3()
    new = PerioExam()
    new.mark_implant(3)
    with pytest.raises(InvalidMeasurement) as err:
        new.copy_from(old, [Measure.FURCATION])
    assert err.value.field == "measures"
    assert new.furcation(3, "M") is None
    previous = PerioExam()
    previous.mark_implant(3)
    with pytest.raises(InvalidMeasurement):
        old.copy().copy_from(previous, [Measure.TEETH])
    old.copy_from(previous, [Measure.TEETH, Measure.FURCATION])
    assert old.is_implant(3) and old.furcation(3, "M") is None


def test_copy_is_independent():
    exam = charted_tooth_3()
    twin = exam.copy()
    assert twin == exam
    twin.set_pd(3, "MB", 9)
    assert exam.pd(3, "MB") == 5 and twin != exam


# --- records -----------------------------------------------------------------------------


def test_record_round_trip_keeps_everything():
    exam = PerioExam(patient="p1", date=dt.date(2024, 3, 1), provider="hyg", note="recall",
                     furcation_scale="glickman")
    exam.set_pd(2, "DB", 4)
    exam.set_gm(2, "DB", -2)
    exam.set_mgj(31, "L", 3)
    exam.set_flag(2, "DB", "suppuration")
    exam.set_mobility(24, 3)
    exam.set_furcation(19, "L", 4)
    exam.mark_implant(14)
    exam.mark_missing(1)
    data = exam.to_dict()
    assert data["furcation"] == [{"tooth": "19", "entrance": "L", "class": 4, "scale": "glickman"}]
    assert data["date"] == "2024-03-01"
    back = PerioExam.from_dict(data)
    assert back == exam and back.to_dict() == data
    assert PerioExam.from_record(exam.to_record()) == exam
    assert back.gm(2, "DB") == -2 and back.is_implant(14) and back.is_missing(1)


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["sites"][0].update(pd=25), "sites[0].pd"),
    (lambda d: d["sites"][0].update(site="XX"), "sites[0].site"),
    (lambda d: d["sites"][0].update(tooth="A"), "sites[0].tooth"),
    (lambda d: d["sites"][0].update(mgj=2, site="L"), "sites[0].mgj"),
    (lambda d: d.update(extra=1), "extra"),
    (lambda d: d["furcation"].append({"tooth": "8", "entrance": "B", "class": 1, "scale": "hamp"}),
     "furcation[0].furcation"),
    (lambda d: d["teeth"].append({"tooth": "3", "state": "gone"}), "teeth[0].state"),
])
def test_bad_records_name_the_path(change, field):
    exam = PerioExam()
    exam.set_pd(3, "B", 3)
    data = exam.to_dict()
    change(data)
    with pytest.raises(InvalidMeasurement) as err:
        PerioExam.from_dict(data)
    assert err.value.field == field


teeth = st.sampled_from(PERMANENT_TEETH)
sites = st.sampled_from(SITES)


@st.composite
def exams(draw) -> PerioExam:
    exam = PerioExam(date=draw(st.none() | st.dates()), note=draw(st.text(max_size=10)))
    for tooth, site in draw(st.lists(st.tuples(teeth, sites), max_size=20)):
        exam.set_pd(tooth, site, draw(st.none() | st.integers(0, 15)))
        exam.set_gm(tooth, site, draw(st.none() | st.integers(-10, 15)))
        if mgj_charted(tooth, site):
            exam.set_mgj(tooth, site, draw(st.none() | st.integers(0, 15)))
        for flag in Flag:
            exam.set_flag(tooth, site, flag, draw(st.booleans()))
    for tooth in draw(st.lists(teeth, max_size=4)):
        exam.set_mobility(tooth, draw(st.integers(0, 3)))
        for entrance in furcation_entrances(tooth):
            exam.set_furcation(tooth, entrance, draw(st.none() | st.integers(0, 3)))
    for tooth in draw(st.lists(teeth, max_size=4)):
        state = draw(st.sampled_from(ToothState))
        if state is not ToothState.IMPLANT or not furcation_entrances(tooth):
            exam.set_tooth_state(tooth, state)
    return exam


@given(exams())
def test_property_records_round_trip(exam):
    data = exam.to_dict()
    back = PerioExam.from_dict(data)
    assert back == exam
    assert back.to_dict() == data
    assert PerioExam.from_record(exam.to_record()).to_record() == exam.to_record()
    for tooth in PERMANENT_TEETH:
        for site in SITES:
            assert back.reading(tooth, site) == exam.reading(tooth, site)


@given(exams(), teeth, sites, st.integers(-20, 30))
def test_property_a_refused_pd_changes_nothing(exam, tooth, site, value):
    before = exam.to_dict()
    try:
        exam.set_pd(tooth, site, value)
    except InvalidMeasurement:
        assert exam.to_dict() == before
    else:
        assert 0 <= value <= 15 and exam.pd(tooth, site) == value


# --- indices -----------------------------------------------------------------------------


def indexed_exam() -> PerioExam:
    """Teeth 2 and 3 charted by hand; 3 gets marked missing in some tests."""
    exam = PerioExam()
    for site, pd, gm in [("DB", 4, 1), ("B", 2, 0), ("MB", 6, 2), ("DL", 3, None), ("L", 2, None)]:
        exam.set_pd(2, site, pd)
        if gm is not None:
            exam.set_gm(2, site, gm)
    exam.set_flag(2, "DB", "bleeding")
    exam.set_flag(2, "MB", "bleeding")
    exam.set_flag(2, "ML", "bleeding")  # no PD, yet bleeding on probing: a probed site
    exam.set_flag(2, "B", "plaque")
    exam.set_flag(5, "B", "plaque")  # plaque counts on every site of counted teeth
    exam.set_pd(3, "B", 9)
    exam.set_flag(3, "B", "bleeding")
    return exam


def test_bleeding_index_counts_only_probed_sites():
    exam = indexed_exam()
    # probed: 5 PD on #2 + ML (bleeding) + #3 B = 7; bleeding: DB, MB, ML, 3-B = 4
    assert bleeding_index(exam) == Ratio(4, 7)
    exam.mark_missing(3)
    assert bleeding_index(exam) == Ratio(3, 6)
    assert bleeding_index(exam).percent == pytest.approx(50.0)


def test_plaque_index_is_over_every_site_of_counted_teeth():
    exam = indexed_exam()
    exam.mark_missing(1)
    exam.mark_missing(16)
    assert plaque_index(exam) == Ratio(2, 30 * 6)
    exam.mark_implant(5)
    assert plaque_index(exam, include_implants=False) == Ratio(1, 29 * 6)
    assert calculus_index(exam) == Ratio(0, 180)


def test_pd_counts_and_means():
    exam = indexed_exam()
    counts = pd_counts(exam)
    assert (counts.probed, counts.at_least_4, counts.at_least_5, counts.at_least_6) == (6, 3, 2, 2)
    assert mean_pd(exam) == pytest.approx((4 + 2 + 6 + 3 + 2 + 9) / 6)
    assert mean_cal(exam) == pytest.approx((5 + 2 + 8) / 3)
    exam.mark_missing(3)
    assert pd_counts(exam).at_least_6 == 1
    assert mean_pd(exam) == pytest.approx(17 / 5)


def test_empty_exam_has_no_percentages():
    summary = summarize(PerioExam())
    assert summary.teeth == 32
    assert summary.bleeding == Ratio(0, 0) and summary.bleeding.percent is None
    assert summary.plaque == Ratio(0, 192) and summary.plaque.percent == 0.0
    assert summary.mean_pd is None and summary.mean_cal is None


def test_summary_gathers_the_figures():
    exam = indexed_exam()
    s = summarize(exam)
    assert (s.bleeding, s.plaque, s.pd.at_least_5) == (Ratio(4, 7), Ratio(2, 192), 2)


def test_compare_two_exams_site_by_site():
    before = PerioExam(date=dt.date(2023, 1, 10))
    after = PerioExam(date=dt.date(2024, 1, 10))
    before.set_pd(19, "MB", 4)
    before.set_gm(19, "MB", 0)
    after.set_pd(19, "MB", 5)
    after.set_gm(19, "MB", 2)  # PD +1, CAL 4 → 7: +3
    before.set_pd(19, "B", 3)
    after.set_pd(19, "B", 5)  # PD +2, CAL unknown
    before.set_pd(20, "B", 6)
    after.set_pd(20, "B", 3)  # improved
    after.set_pd(21, "B", 4)  # new site: no change figure
    before.set_pd(30, "B", 7)
    after.mark_missing(30)
    result = compare(before, after)
    by_site = {(c.tooth.universal, c.site.value): c for c in result.changes}
    assert set(by_site) == {("19", "MB"), ("19", "B"), ("20", "B"), ("21", "B")}
    assert (by_site["19", "MB"].pd_change, by_site["19", "MB"].cal_change) == (1, 3)
    assert by_site["20", "B"].pd_change == -3 and by_site["21", "B"].pd_change is None
    assert [(c.tooth.universal, c.site) for c in result.pd_worsened()] == [("19", Site.B)]
    assert [(c.tooth.universal, c.site) for c in result.cal_worsened()] == [("19", Site.MB)]
    assert result.cal_worsened(by=4) == ()
    assert result.teeth_lost == (Tooth("30"),)


def test_one_site_change_and_its_two_mm_trend_as_the_chart_shows_it():
    before, after = PerioExam(date=dt.date(2023, 1, 10)), PerioExam(date=dt.date(2024, 1, 10))
    for site, then, now in (("MB", 3, 5), ("B", 6, 4), ("DB", 3, 4)):
        before.set_pd(14, site, then)
        after.set_pd(14, site, now)
    assert [site_change(before, after, Tooth("14"), s).pd_trend() for s in (Site.MB, Site.B, Site.DB)] == [1, -1, 0]
    assert site_change(before, after, Tooth("14"), Site.DB).pd_change == 1
    assert site_change(before, after, Tooth("14"), Site.DB).pd_trend(by=1) == 1
    after.mark_missing(14)
    gone = site_change(before, after, Tooth("14"), Site.MB)
    assert gone.pd_change is None and gone.pd_trend() == 0


def test_compare_refuses_exams_in_the_wrong_order():
    early, late = PerioExam(date=dt.date(2020, 5, 1)), PerioExam(date=dt.date(2021, 5, 1))
    with pytest.raises(InvalidMeasurement) as err:
        compare(late, early)
    assert err.value.field == "before"
    assert compare(early, late).changes == ()
