"""The first frame: the last chart shown, kept in the cache and read back before the models load."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import TODAY

from odonto_desk.domain.age import age_on
from odonto_desk.services import first_frame
from odonto_desk.services.chart import ChartService

ROOT = Path(__file__).resolve().parents[2]


def test_opening_a_chart_keeps_what_its_screen_shows(session):
    view = ChartService(session).open("demo-rivera")
    frame = first_frame.load(session.cache(), "demo-rivera", TODAY)
    assert frame is not None
    # what a cold start reads: the same frame, peeked at read-only while the cache is open (WAL)
    assert first_frame.load(session.peek(), "demo-rivera", TODAY) == frame
    assert frame.patient == view.patient
    assert frame.teeth == view.teeth
    assert [(m.id, m.tooth, m.kind, m.status, m.surfaces, m.material, m.code, m.date, m.removes_tooth)
            for m in frame.marks] == [(m.id, m.tooth, m.kind, m.status, m.surfaces, m.material, m.code, m.date,
                                       m.removes_tooth) for m in view.marks]
    assert [m.describe() for m in frame.marks] == [m.describe() for m in view.marks]
    assert [m.surface_string for m in frame.marks] == [m.surface_string for m in view.marks]
    assert [(a.label, a.detail) for a in frame.alerts] == [("Latex allergy", "Allergy: latex allergy (recorded 2011-06-02)")]
    assert frame.unreadable == 0


def test_the_frame_is_the_last_chart_opened_and_only_for_its_patient(session):
    service = ChartService(session)
    service.open("demo-rivera")
    service.open("demo-chen")
    assert first_frame.load(session.cache(), "demo-rivera", TODAY) is None
    frame = first_frame.load(session.cache(), "demo-chen", TODAY)
    assert frame is not None and frame.patient.name == "Mia Chen" and frame.alerts == ()


def test_a_chart_opened_without_audit_is_not_kept(session):
    ChartService(session).open("demo-haddad", audit=False)  # e.g. a reload for a history frame
    assert first_frame.load(session.cache(), "demo-haddad", TODAY) is None


def test_the_age_is_worked_out_on_the_day_the_frame_is_shown(session):
    ChartService(session).open("demo-chen")
    born = dt.date(2017, 9, 3)
    for day in (dt.date(2026, 9, 2), dt.date(2026, 9, 3), dt.date(2031, 1, 1)):
        frame = first_frame.load(session.cache(), "demo-chen", day)
        assert frame is not None and frame.patient.age == age_on(born, day)
    assert [first_frame.load(session.cache(), "demo-chen", d).patient.age  # type: ignore[union-attr]
            for d in (dt.date(2026, 9, 2), dt.date(2026, 9, 3))] == [8, 9]


def test_a_damaged_or_older_frame_is_ignored(session):
    cache = session.cache()
    ChartService(session).open("demo-rivera")
    good = json.loads(cache.get_state(first_frame.STATE_KEY) or "")
    bad_mark = json.loads(json.dumps(good))
    bad_mark["marks"][0]["tooth"] = "33"  # no such tooth
    bad_kind = json.loads(json.dumps(good))
    bad_kind["marks"][0]["kind"] = "gold star"
    older = {**good, "v": first_frame.VERSION - 1}
    for raw in ("{not json", "[]", "null", json.dumps({"v": first_frame.VERSION}), json.dumps(bad_mark),
                json.dumps(bad_kind), json.dumps(older)):
        cache.set_state(first_frame.STATE_KEY, raw)
        assert first_frame.load(cache, "demo-rivera", TODAY) is None, raw
    cache.set_state(first_frame.STATE_KEY, json.dumps(good))
    assert first_frame.load(cache, "demo-rivera", TODAY) is not None


def test_age_on_counts_completed_years_and_29_february():
    assert age_on(dt.date(2000, 2, 29), dt.date(2001, 2, 28)) == 0
    assert age_on(dt.date(2000, 2, 29), dt.date(2001, 3, 1)) == 1
    assert age_on(dt.date(2000, 2, 29), dt.date(2004, 2, 29)) == 4
    assert age_on(dt.date(1990, 6, 15), dt.date(2026, 6, 14)) == 35
    assert age_on(None, TODAY) is None


def test_the_first_frame_is_drawn_without_importing_the_models():
    """What a cold start runs before its first paint must not import pydantic (most of the start), nor
    the cache with its outbox and audit trail (the first frame is peeked at, read-only)."""
    code = textwrap.dedent("""
        import sys
        import odonto_desk.app, odonto_desk.services.first_frame, odonto_desk.services.embedded
        import odonto_desk.services.session, odonto_desk.ui.main_window, odonto_desk.ui.settings
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core", "fhir", "httpx")
                       or m in ("odonto_desk.store.cache", "odonto_desk.store.outbox", "odonto_desk.store.audit"))
        print(" ".join(heavy) or "none")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "none"


def test_a_peek_at_a_missing_or_damaged_cache_file_is_no_frame(tmp_path):
    from odonto_desk.store.peek import StatePeek

    assert first_frame.load(StatePeek(tmp_path / "none.sqlite"), "demo-rivera", TODAY) is None
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    assert StatePeek(tmp_path / "junk.sqlite").get_state("ui:first_frame") is None
    assert first_frame.load(StatePeek(tmp_path / "junk.sqlite"), "demo-rivera", TODAY) is None
