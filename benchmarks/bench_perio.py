"""Perio entry at the keyboard: how many keys a full exam takes, and how fast one key lands.

- ``perio_keystrokes_per_site``: a 28-tooth exam (third molars out), PD at six sites, 10 % of
  sites bleeding, typed into the real Perio tab with key events only. Value: keys per site with
  Shift+digit for a bleeding site (one stroke: depth and bleeding). Baseline: the same exam typed
  the Open Dental way, a digit then b for each bleeding site. Goal ≤ 1.0.
- ``perio_keystroke``: one digit key into the Perio tab, from the key event to the value in the
  exam, the cursor moved, the cell repainted (the paint event processed) and the draft write
  queued; p50/p99 over every site of several exams. Baseline: one key into a QLineEdit and its
  repaint, measured the same way. Goal p99 ≤ 4 ms. ``draft_p99_ms`` is the time until the draft
  holding that keystroke is in SQLite (on the write thread).
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from _timing import percentiles, workdir

TODAY_ISO = "2026-11-25"


def _qapp() -> Any:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(sys.argv[:1])


def _tab(folder: Any) -> Any:
    """The Perio tab on a session whose cache is a real SQLite file (no server needed to type)."""
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QUndoStack

    from odonto_desk.api.auth import ApiKey
    from odonto_desk.domain.cdt import demo_catalog
    from odonto_desk.services.session import Role, Server, Session, User
    from odonto_desk.ui.perio.tab import PerioTab
    from odonto_desk.ui.settings import Settings
    from odonto_desk.ui.tabs import TabContext
    from odonto_desk.ui.tasks import TaskManager

    session = Session(User("RDH Bench", Role.HYGIENIST), Server(base_url="http://127.0.0.1:9"),
                      folder / "cache.sqlite", credentials=ApiKey("apx_sandbox_hygienist_key"))
    settings = Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    tasks = TaskManager()
    tab = PerioTab(TabContext(session, settings, tasks, QUndoStack(), demo_catalog()))
    tab.resize(1400, 900)
    tab.show()
    return tab, session, tasks


def _exam() -> Any:
    import datetime as dt

    from odonto_desk.domain.perio import PerioExam

    exam = PerioExam(patient="bench-patient", date=dt.date.fromisoformat(TODAY_ISO))
    for t in (1, 16, 17, 32):
        exam.mark_missing(t)
    return exam


def _start(tab: Any, exam: Any) -> None:
    """Show a fresh exam and let the tab settle (its first paints are the exam opening, not a key)."""
    app = _qapp()
    tab.patient_id = exam.patient
    tab.exam, tab.editable = exam, True
    tab._show_exam(new_entry=True)
    tab.grid.setFocus()
    for _ in range(30):
        app.processEvents()
        time.sleep(0.005)


def _type_exam(tab: Any, rng: random.Random, *, shift_for_bleeding: bool) -> tuple[int, int]:
    """Type one exam; returns (keys pressed, sites)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from odonto_desk.domain.perio_paths import exam_path

    stops = list(exam_path(tab.exam))
    bleeding = set(rng.sample(range(len(stops)), round(len(stops) * 0.10)))
    start = tab.grid.keystrokes
    for n, _stop in enumerate(stops):
        digit = getattr(Qt.Key, f"Key_{rng.choice((1, 2, 2, 3, 3, 3, 4, 5, 6, 7))}")
        if n in bleeding and shift_for_bleeding:
            QTest.keyClick(tab.grid, digit, Qt.KeyboardModifier.ShiftModifier)
        else:
            QTest.keyClick(tab.grid, digit)
            if n in bleeding:
                QTest.keyClick(tab.grid, Qt.Key.Key_B)
    return tab.grid.keystrokes - start, len(stops)


def perio_keystrokes_per_site(quick: bool) -> list[dict]:
    app = _qapp()
    with workdir("perio-keys") as folder:
        tab, session, tasks = _tab(folder)
        results = {}
        for shift in (True, False):
            _start(tab, _exam())
            keys, sites = _type_exam(tab, random.Random(7), shift_for_bleeding=shift)
            results[shift] = (keys, sites)
            app.processEvents()
        tasks.drain(10_000)
        session.close()
    (keys, sites), (base_keys, _) = results[True], results[False]
    value, baseline = keys / sites, base_keys / sites
    return [{"name": "perio_keystrokes_per_site", "value": round(value, 3), "unit": "keys/site",
             "baseline": round(baseline, 3), "ratio": round(value / baseline, 3), "sites": sites,
             "bleeding_sites": round(sites * 0.10), "goal": "<= 1.0", "met": value <= 1.0}]


def perio_keystroke(quick: bool) -> list[dict]:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QLineEdit

    from odonto_desk.domain.perio_paths import exam_path

    app = _qapp()
    rng = random.Random(11)
    exams = 1 if quick else 4
    samples: list[float] = []
    drafts: list[float] = []
    with workdir("perio-keystroke") as folder:
        tab, session, tasks = _tab(folder)
        service = tab.service
        for _ in range(exams):
            _start(tab, _exam())
            for _stop in list(exam_path(tab.exam)):
                digit = getattr(Qt.Key, f"Key_{rng.randint(1, 7)}")
                t0 = time.perf_counter()
                QTest.keyClick(tab.grid, digit)
                app.processEvents()  # the repaint of the touched cells
                samples.append(time.perf_counter() - t0)
                wanted = tab.exam.copy()
                while tasks.in_flight:  # the draft with this keystroke reaches SQLite
                    app.processEvents()
                drafts.append(time.perf_counter() - t0)
                assert service._draft("bench-patient", []) == wanted
        tasks.drain(10_000)
        session.close()
        line = QLineEdit()
        line.resize(300, 30)
        line.show()
        line.setFocus()
        base: list[float] = []
        for _ in range(len(samples)):
            t0 = time.perf_counter()
            QTest.keyClick(line, Qt.Key.Key_5)
            app.processEvents()
            base.append(time.perf_counter() - t0)
            if len(line.text()) > 20:
                line.clear()
    p50, p99 = (v * 1000 for v in percentiles(samples, 50, 99))
    b50, b99 = (v * 1000 for v in percentiles(base, 50, 99))
    d50, d99 = (v * 1000 for v in percentiles(drafts, 50, 99))
    return [{"name": "perio_keystroke", "value": round(p99, 3), "unit": "ms p99", "p50_ms": round(p50, 3),
             "baseline": round(b99, 3), "baseline_p50_ms": round(b50, 3), "ratio": round(p99 / b99, 2),
             "draft_p50_ms": round(d50, 2), "draft_p99_ms": round(d99, 2), "keys": len(samples),
             "goal": "p99 <= 4 ms", "met": p99 <= 4.0}]


BENCHMARKS = {"perio_keystrokes_per_site": perio_keystrokes_per_site, "perio_keystroke": perio_keystroke}
