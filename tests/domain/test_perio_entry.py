"""Perio keyboard entry: each key, path, skip, triplet, undo, refusal and the red thresholds."""

from __future__ import annotations

import pytest

from odonto_desk.domain.errors import InvalidMeasurement
from odonto_desk.domain.perio import Entrance, Flag, PerioExam, Site
from odonto_desk.domain.perio_entry import PerioEntry, RedThresholds, Row, furcation_entrance
from odonto_desk.domain.perio_paths import Stop, entry_path, reversed_path
from odonto_desk.domain.teeth import Tooth

T = Tooth


def entry(**kw) -> PerioEntry:
    return PerioEntry(PerioExam(patient="p1"), **kw)


def test_digits_fill_the_path_in_order_and_advance():
    e = entry()
    for d in (3, 2, 4, 5):
        assert e.digit(d).ok
    ex = e.exam
    assert [ex.pd(1, s) for s in (Site.DB, Site.B, Site.MB)] == [3, 2, 4]
    assert ex.pd(2, Site.DB) == 5
    assert e.stop == Stop(T("2"), Site.B)


def test_ctrl_digit_enters_ten_to_nineteen_and_the_range_is_refused_at_the_key():
    e = entry()
    assert e.digit(2, plus10=True).ok
    assert e.exam.pd(1, Site.DB) == 12
    out = e.digit(7, plus10=True)  # 17 mm
    assert out.refused == "PD 17 is outside 0–15 mm"
    assert e.exam.pd(1, Site.B) is None and e.stop == Stop(T("1"), Site.B)  # nothing written, no move


def test_flag_keys_apply_to_the_site_just_entered_after_the_cursor_moved_on():
    e = entry()
    e.digit(5)
    assert e.flag(Flag.BLEEDING).ok
    assert e.flag("suppuration").ok
    assert e.exam.flag(1, Site.DB, Flag.BLEEDING) and e.exam.flag(1, Site.DB, Flag.SUPPURATION)
    assert not e.exam.flag(1, Site.B, Flag.BLEEDING)
    e.flag(Flag.BLEEDING)  # toggles back off
    assert not e.exam.flag(1, Site.DB, Flag.BLEEDING)
    e.move(+1)  # navigation: flags now go to the cursor's site
    e.flag(Flag.PLAQUE)
    assert e.exam.flag(1, Site.MB, Flag.PLAQUE)
    e.flag(Flag.CALCULUS)
    assert e.exam.flag(1, Site.MB, Flag.CALCULUS)


def test_shift_digit_enters_the_depth_and_bleeding_in_one_stroke():
    e = entry()
    e.digit(6, bleeding=True)
    assert e.exam.pd(1, Site.DB) == 6 and e.exam.flag(1, Site.DB, Flag.BLEEDING)
    assert e.stop == Stop(T("1"), Site.B)


def test_row_jumps_and_dot_back_to_probing():
    e = entry()
    e.digit(3)
    assert e.jump(Row.GM).ok and e.row is Row.GM and e.stop == Stop(T("1"), Site.B)
    e.digit(2)
    assert e.exam.gm(1, Site.B) == 2
    e.jump(Row.MOBILITY)
    assert e.stop == Stop(T("1"), Site.B)
    e.digit(1)
    assert e.exam.mobility(1).value == 1 and e.stop.tooth == T("2")  # mobility advances a tooth
    e.jump(Row.PD)
    assert e.row is Row.PD and e.stop == Stop(T("2"), Site.B)


def test_gm_signs_ctrl_digit_is_coronal_alt_is_ten_plus_and_minus_prefix():
    e = entry()
    e.jump(Row.GM)
    e.digit(2, negative=True)
    assert e.exam.gm(1, Site.DB) == -2
    e.minus_key()
    e.digit(3)
    assert e.exam.gm(1, Site.B) == -3
    e.digit(1, plus10=True)
    assert e.exam.gm(1, Site.MB) == 11
    assert e.exam.cal(1, Site.MB) is None
    e.jump(Row.PD)
    assert e.minus_key().refused
    assert e.digit(3, negative=True).refused.startswith("Probing depth cannot be negative")


def test_mgj_row_skips_palatal_sites():
    e = entry()
    e.jump(Row.MGJ)
    stops, _ = e._row_stops(Row.MGJ)
    assert not any(s.tooth.arch.value == "maxillary" and s.site.is_lingual for s in stops)
    assert any(s.tooth.universal == "30" and s.site is Site.L for s in stops)


def test_furcation_row_stops_only_where_an_entrance_opens():
    assert furcation_entrance(T("3"), Site.B) is Entrance.B
    assert furcation_entrance(T("3"), Site.ML) is Entrance.M
    assert furcation_entrance(T("30"), Site.L) is Entrance.L
    assert furcation_entrance(T("30"), Site.ML) is None
    assert furcation_entrance(T("8"), Site.B) is None
    e = entry()
    e.jump(Row.FURCATION)
    assert e.stop == Stop(T("1"), Site.B)
    e.digit(2)
    assert e.exam.furcation(1, "B").value == 2 and e.stop == Stop(T("2"), Site.B)
    assert e.digit(5).refused == "furcation class 5 is outside 0–3 on the hamp scale"


def test_missing_teeth_are_skipped_and_can_be_marked_mid_exam():
    exam = PerioExam(patient="p1")
    exam.mark_missing(1)
    e = PerioEntry(exam)
    assert e.stop == Stop(T("2"), Site.DB)
    e.digit(3)
    assert e.toggle_missing().ok  # tooth 2 out: the cursor moves to tooth 3
    assert e.stop.tooth == T("3") and e.exam.is_missing(2)
    assert e.undo().ok and not e.exam.is_missing(2) and e.exam.pd(2, Site.DB) == 3


def test_implants_are_stops_unless_configured_out():
    exam = PerioExam(patient="p1")
    exam.mark_implant(1)
    assert PerioEntry(exam).stop.tooth == T("1")
    assert PerioEntry(exam, include_implants=False).stop.tooth == T("2")


@pytest.mark.parametrize("path,second_segment_start", [("maxillary-first", Stop(T("16"), Site.DL)),
                                                       ("facials-first", Stop(T("17"), Site.DB))])
def test_presets_walk_their_segments(path, second_segment_start):
    e = entry(path=path)
    for _ in range(16 * 3):
        e.digit(2)
    assert e.stop == second_segment_start


def test_custom_path_and_a_bad_one_refused():
    e = entry(path="custom", segments=[(17, 32, "L")])
    assert e.stop == Stop(T("17"), Site.DL)
    out = e.set_path("custom", [(1, 17, "F")])
    assert out.refused and "different arches" in out.refused
    assert e.path_name.value == "custom" and e.stop == Stop(T("17"), Site.DL)


def test_reverse_mid_exam_walks_back_with_the_sites_in_the_new_direction():
    e = entry()
    for d in (3, 3, 3, 4):  # 1 DB B MB, 2 DB; cursor at 2 B
        e.digit(d)
    e.reverse()
    e.digit(5)  # 2 B
    assert e.stop == Stop(T("2"), Site.DB)
    e.digit(6)
    assert e.exam.pd(2, Site.DB) == 6 and e.stop == Stop(T("1"), Site.MB)
    assert reversed_path(reversed_path(entry_path())).segments == entry_path().segments


def test_triplet_mode_fills_a_side_all_or_nothing():
    e = entry()
    e.set_triplet(True)
    e.digit(3)
    e.digit(2)
    assert e.pending == (3, 2) and e.exam.pd(1, Site.DB) is None
    e.digit(4)
    assert [e.exam.pd(1, s) for s in (Site.DB, Site.B, Site.MB)] == [3, 2, 4]
    assert e.stop == Stop(T("2"), Site.DB) and e.cursor_cells() == (
        Stop(T("2"), Site.DB), Stop(T("2"), Site.B), Stop(T("2"), Site.MB))
    e.digit(5)
    assert e.backspace().ok and e.pending == ()
    assert e.backspace().ok  # nothing pending: the side before is cleared
    assert e.exam.pd(1, Site.B) is None and e.stop == Stop(T("1"), Site.DB)


def test_backspace_steps_back_and_clears():
    e = entry()
    e.digit(3)
    e.digit(4)
    e.backspace()
    assert e.exam.pd(1, Site.B) is None and e.exam.pd(1, Site.DB) == 3 and e.stop == Stop(T("1"), Site.B)
    assert entry().backspace().refused == "the start of the path"


def test_undo_and_redo_one_keystroke_at_a_time():
    e = entry()
    e.digit(3)
    e.flag(Flag.BLEEDING)
    e.digit(4)
    e.undo()
    assert e.exam.pd(1, Site.B) is None and e.stop == Stop(T("1"), Site.B)
    e.undo()
    assert not e.exam.flag(1, Site.DB, Flag.BLEEDING)
    e.undo()
    assert e.exam.pd(1, Site.DB) is None and e.stop == Stop(T("1"), Site.DB)
    assert e.undo().refused == "nothing to undo"
    e.redo()
    e.redo()
    assert e.exam.pd(1, Site.DB) == 3 and e.exam.flag(1, Site.DB, Flag.BLEEDING)
    e.digit(7)  # a new keystroke drops the redo history
    assert not e.can_redo


def test_red_thresholds_defaults_and_configured():
    t = RedThresholds()
    assert t.is_red("pd", 4) and not t.is_red("pd", 3)
    assert t.is_red("mgj", 2) and not t.is_red("mgj", 3)
    assert t.is_red("cal", 6) and not t.is_red("gm", 1) and not t.is_red("pd", None)
    custom = RedThresholds.from_dict({"pd": 5})
    assert not custom.is_red("pd", 4) and custom.is_red("pd", 5)
    with pytest.raises(InvalidMeasurement, match="whole number 0–19"):
        RedThresholds.from_dict({"pd": 25})
    with pytest.raises(InvalidMeasurement, match="not a red threshold"):
        RedThresholds.from_dict({"depth": 4})


def test_the_per_keystroke_draft_round_trips_and_a_damaged_one_is_refused():
    from odonto_desk.domain.demo import demo_perio_exams

    exam = demo_perio_exams("demo-haddad")[-1]
    assert PerioExam.from_draft(exam.to_draft()) == exam
    damaged = exam.to_draft()
    damaged["pd"][0][2] = 25  # PD 25 mm
    with pytest.raises(InvalidMeasurement, match="PD 25 is outside 0–15 mm"):
        PerioExam.from_draft(damaged)
    with pytest.raises(InvalidMeasurement, match="draft is damaged"):
        PerioExam.from_draft({"id": "x"})
