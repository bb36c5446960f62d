from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.errors import DomainError, InvalidMeasurement
from odonto_desk.domain.perio import Aspect, PerioExam, Site
from odonto_desk.domain.perio_paths import PathName, Segment, Stop, entry_path, exam_path
from odonto_desk.domain.teeth import PERMANENT_TEETH, Tooth

PRESETS = [PathName.MAXILLARY_FIRST, PathName.FACIALS_FIRST, PathName.MANDIBULAR_LINGUAL_FIRST]
T = {int(t.universal): t for t in PERMANENT_TEETH}


def sites_of(path, tooth: int, aspect: Aspect) -> list[str]:
    """The sites of one tooth's aspect, in the order the path visits them."""
    return [s.site.value for s in path.stops if s.tooth is T[tooth] and s.site.aspect is aspect]


def teeth_of(path, start: int, count: int) -> list[int]:
    """The teeth of ``count`` consecutive stops from ``start``, one entry per tooth."""
    seen: list[int] = []
    for stop in path.stops[start:start + count]:
        n = int(stop.tooth.universal)
        if not seen or seen[-1] != n:
            seen.append(n)
    return seen


# --- coverage ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
@given(missing=st.sets(st.sampled_from(PERMANENT_TEETH), max_size=31))
def test_presets_visit_every_present_site_exactly_once(name, missing):
    path = entry_path(name, skip=missing)
    expected = Counter(Stop(t, s) for t in PERMANENT_TEETH if t not in missing for s in Site)
    assert Counter(path.stops) == expected
    assert len(path) == 6 * (32 - len(missing))


@pytest.mark.parametrize("name", PRESETS)
@given(missing=st.sets(st.sampled_from(PERMANENT_TEETH), max_size=31))
def test_next_and_previous_walk_the_whole_path(name, missing):
    path = entry_path(name, skip=missing)
    walked, stop = [], path.first
    while stop is not None:
        walked.append(stop)
        stop = path.next(stop)
    assert tuple(walked) == path.stops
    back, stop = [], path.last
    while stop is not None:
        back.append(stop)
        stop = path.previous(stop)
    assert back == walked[::-1]


def test_every_tooth_missing_gives_an_empty_path():
    path = entry_path(skip=PERMANENT_TEETH)
    assert len(path) == 0 and path.first is None and path.last is None


# --- the reference's order (charting.md §3.2, §3.3) --------------------------------------


def test_maxillary_first_pass_order():
    path = entry_path("maxillary-first")
    assert teeth_of(path, 0, 48) == list(range(1, 17))
    assert teeth_of(path, 48, 48) == list(range(16, 0, -1))
    assert teeth_of(path, 96, 48) == list(range(32, 16, -1))
    assert teeth_of(path, 144, 48) == list(range(17, 33))
    assert {s.site.aspect for s in path.stops[:48]} == {Aspect.FACIAL}
    assert {s.site.aspect for s in path.stops[48:96]} == {Aspect.LINGUAL}
    assert {s.site.aspect for s in path.stops[96:144]} == {Aspect.FACIAL}


def test_facials_first_pass_order():
    path = entry_path("facials-first")
    assert teeth_of(path, 0, 48) == list(range(1, 17))
    assert teeth_of(path, 48, 48) == list(range(17, 33))
    assert teeth_of(path, 96, 48) == list(range(32, 16, -1))
    assert teeth_of(path, 144, 48) == list(range(16, 0, -1))
    assert {s.site.aspect for s in path.stops[:96]} == {Aspect.FACIAL}


def test_mandibular_lingual_first_pass_order():
    path = entry_path("mandibular-lingual-first")
    assert teeth_of(path, 96, 48) == list(range(17, 33))
    assert {s.site.aspect for s in path.stops[96:144]} == {Aspect.LINGUAL}
    assert teeth_of(path, 144, 48) == list(range(32, 16, -1))


# The table of charting.md §3.2, row by row: (teeth, aspect, site order) for maxillary-first.
REFERENCE_TABLE = [
    (range(1, 9), Aspect.FACIAL, ["DB", "B", "MB"]), (range(9, 17), Aspect.FACIAL, ["MB", "B", "DB"]),
    (range(9, 17), Aspect.LINGUAL, ["DL", "L", "ML"]), (range(1, 9), Aspect.LINGUAL, ["ML", "L", "DL"]),
    (range(25, 33), Aspect.FACIAL, ["DB", "B", "MB"]), (range(17, 25), Aspect.FACIAL, ["MB", "B", "DB"]),
    (range(17, 25), Aspect.LINGUAL, ["DL", "L", "ML"]), (range(25, 33), Aspect.LINGUAL, ["ML", "L", "DL"]),
]


@pytest.mark.parametrize(("teeth", "aspect", "order"), REFERENCE_TABLE)
def test_site_order_follows_the_reference_table(teeth, aspect, order):
    path = entry_path("maxillary-first")
    for tooth in teeth:
        assert sites_of(path, tooth, aspect) == order, tooth


@pytest.mark.parametrize(("tooth", "aspect", "order"), [
    (3, Aspect.FACIAL, ["DB", "B", "MB"]), (14, Aspect.FACIAL, ["MB", "B", "DB"]),
    (19, Aspect.FACIAL, ["DB", "B", "MB"]),  # 17→32 walks #19 toward the midline: distal first
    (30, Aspect.FACIAL, ["MB", "B", "DB"]),
    (30, Aspect.LINGUAL, ["DL", "L", "ML"]),  # 32→17 lingual
    (14, Aspect.LINGUAL, ["DL", "L", "ML"]), (3, Aspect.LINGUAL, ["ML", "L", "DL"]),
])
def test_facials_first_sites_follow_its_direction(tooth, aspect, order):
    assert sites_of(entry_path("facials-first"), tooth, aspect) == order


@pytest.mark.parametrize("name", PRESETS)
def test_walking_toward_the_midline_reaches_distal_first(name):
    """The physical reading of §3.2: heading for the midline you meet a tooth's distal side first."""
    path = entry_path(name)
    for i in range(0, len(path), 3):
        a, b = path.stops[i], path.stops[i + 3] if i + 3 < len(path) else None
        triple = path.stops[i:i + 3]
        assert {s.tooth for s in triple} == {a.tooth} and triple[1].site.is_mid
        if b is None or b.site.aspect is not a.site.aspect or b.tooth.arch is not a.tooth.arch:
            continue  # the last tooth of a pass has no next tooth to tell the direction
        toward_midline = b.tooth.position < a.tooth.position or b.tooth.side is not a.tooth.side
        assert triple[0].site.is_distal is toward_midline, a


# --- skipping, finding, neighbours -------------------------------------------------------


def test_missing_teeth_are_skipped_and_neighbours_close_the_gap():
    path = entry_path("maxillary-first", skip=["3"])
    assert all(s.tooth is not T[3] for s in path)
    assert path.next(Stop(T[2], Site.MB)) == Stop(T[4], Site.DB)
    assert path.previous(Stop(T[4], Site.DB)) == Stop(T[2], Site.MB)
    assert path.next(Stop(T[4], Site.DL)) == Stop(T[2], Site.ML)  # lingual 16→1 jumps over 3 too
    # the cursor may still sit on the tooth just marked missing
    assert path.next(Stop(T[3], Site.B)) == Stop(T[4], Site.DB)
    assert path.previous(Stop(T[3], Site.B)) == Stop(T[2], Site.MB)
    assert Stop(T[3], Site.B) not in path and path.position(Stop(T[3], Site.B)) is None


def test_exam_path_skips_missing_and_keeps_implants():
    exam = PerioExam()
    exam.mark_missing(1)
    exam.mark_implant(14)
    path = exam_path(exam)
    assert path.first == Stop(T[2], Site.DB)
    assert path.find(14, "mb") == Stop(T[14], Site.MB)
    assert path.find(1, "B") is None
    without = exam_path(exam, "facials-first", include_implants=False)
    assert without.find(14, "B") is None and len(without) == 6 * 30


def test_ends_of_the_path():
    path = entry_path()
    assert path.previous(path.first) is None and path.next(path.last) is None
    assert path.first == Stop(T[1], Site.DB) and path.last == Stop(T[32], Site.DL)
    assert path.next((T[1], Site.DB)) == Stop(T[1], Site.B)  # a plain (tooth, site) key works
    assert path.position(path.last) == 191


def test_find_reads_typed_names():
    path = entry_path()
    assert path.find("8", "df") == Stop(T[8], Site.DB)
    with pytest.raises(InvalidMeasurement):
        path.find(8, "O")
    with pytest.raises(DomainError):
        path.find(40, "B")


def test_built_paths_are_shared():
    assert entry_path("facials-first", skip=[5]) is entry_path(PathName.FACIALS_FIRST, skip=[Tooth("5")])


# --- custom paths ------------------------------------------------------------------------


def test_custom_path_walks_its_segments():
    path = entry_path("custom", segments=[(3, 5, "F"), (Tooth("30"), 28, "lingual")])
    assert [(s.tooth.universal, s.site.value) for s in path] == [
        ("3", "DB"), ("3", "B"), ("3", "MB"), ("4", "DB"), ("4", "B"), ("4", "MB"),
        ("5", "DB"), ("5", "B"), ("5", "MB"),
        ("30", "DL"), ("30", "L"), ("30", "ML"), ("29", "DL"), ("29", "L"), ("29", "ML"),
        ("28", "DL"), ("28", "L"), ("28", "ML"),
    ]
    with pytest.raises(InvalidMeasurement) as err:
        path.next(Stop(T[8], Site.B))
    assert err.value.field == "site"


def test_one_tooth_segments_go_left_to_right():
    path = entry_path("custom", segments=[Segment.of(8, 8, "F"), Segment.of(9, 9, "B"), (24, 24, "P")])
    assert [s.site.value for s in path] == ["DB", "B", "MB", "MB", "B", "DB", "ML", "L", "DL"]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": "custom"}, "segments"),
    ({"name": "custom", "segments": []}, "segments"),
    ({"name": "custom", "segments": [(1, 5, "F"), (5, 8, "F")]}, "segments"),  # tooth 5 twice
    ({"name": "custom", "segments": [(8, 9, "F"), (9, 8, "F")]}, "segments"),
    ({"name": "custom", "segments": [(16, 17, "F")]}, "segments"),  # two arches
    ({"name": "custom", "segments": [(1, 3, "O")]}, "aspect"),
    ({"name": "custom", "segments": [("A", "B", "F")]}, "tooth"),
    ({"name": "maxillary-first", "segments": [(1, 3, "F")]}, "segments"),
    ({"name": "spiral"}, "path"),
])
def test_bad_paths_are_refused(kwargs, field):
    with pytest.raises(InvalidMeasurement) as err:
        entry_path(**kwargs)
    assert err.value.field == field


def test_custom_segments_on_the_same_teeth_but_other_aspects_are_fine():
    path = entry_path("custom", segments=[(1, 16, "F"), (16, 1, "L")], skip=[16])
    assert len(path) == 6 * 15 and str(path.segments[1]) == "16→1 L"
