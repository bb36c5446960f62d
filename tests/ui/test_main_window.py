"""The window shell: finder, header, settings, lock, conflicts, export, accessible names."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QListWidget, QSlider, QTableWidget

from odonto_desk.domain.teeth import NumberingSystem


def test_finder_filters_by_name_gpid_and_birth_date(qtbot, window):
    w = window
    qtbot.keyClicks(w.finder, "APX-H4DD")
    qtbot.waitUntil(lambda: w.patients.count() == 1
                    and w.patients.item(0).data(Qt.ItemDataRole.UserRole).id == "demo-haddad", timeout=3000)
    w.finder.clear()
    qtbot.keyClicks(w.finder, "2017-09")
    qtbot.waitUntil(lambda: w.patients.count() == 1
                    and w.patients.item(0).data(Qt.ItemDataRole.UserRole).name == "Mia Chen", timeout=3000)
    w.finder.clear()
    qtbot.keyClicks(w.finder, "nobody-here")
    qtbot.waitUntil(lambda: w.patients.count() == 0, timeout=3000)


def test_header_shows_age_gpid_and_planned_work(qtbot, window):
    w = window
    w.patients.setCurrentRow(0)  # by family name: Chen, Haddad, Rivera
    qtbot.waitUntil(lambda: "planned" in w.header.text(), timeout=5000)
    assert "Mia Chen" in w.header.text() and "APX-7KQ2M9PZ" in w.header.text()
    assert " y · born 2017-09-03" in w.header.text()


def test_settings_persist_and_bad_values_fall_back(qtbot, window, settings):
    window.set_numbering(NumberingSystem.HADERUP)
    assert settings.get("setting/numbering") == "haderup"
    settings.q.setValue("setting/numbering", "klingon")
    assert settings.get("setting/numbering") == "universal"  # a bad stored value is replaced
    with pytest.raises(ValueError):
        settings.set("setting/idle_lock_minutes", 999)
    assert settings.get("setting/idle_lock_minutes") == 0


def test_lock_hides_patient_data_and_the_menus(qtbot, window):
    w = window
    w.patients.setCurrentRow(0)
    w.actions_by_id["lock"].trigger()
    assert w.locked and not w.menuBar().isEnabled()
    assert not w.patients.isVisible() and not w.header.isVisible()


def test_idle_lock_fires_after_the_configured_time(qtbot, window, settings):
    w = window
    w._idle.start(50)  # the timer the idle setting drives, shortened
    qtbot.waitUntil(lambda: w.locked, timeout=3000)


def test_export_chart_png_and_pdf_are_audited(qtbot, window, session, tmp_path):
    w = window
    w.patients.setCurrentRow(2)
    qtbot.waitUntil(lambda: w.chart_tab.view is not None, timeout=5000)
    w.export_chart(str(tmp_path / "chart.png"))
    w.export_chart(str(tmp_path / "chart.pdf"))
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "chart.pdf").read_bytes()[:5] == b"%PDF-"
    exported = [e for e in session.cache().audit.entries() if e.action == "exported"]
    assert len(exported) == 2 and exported[0].user == "Dr. Lee"


def test_opening_a_chart_is_audited_as_viewed(qtbot, window, session):
    w = window
    w.patients.setCurrentRow(1)
    qtbot.waitUntil(lambda: w.chart_tab.view is not None, timeout=5000)
    viewed = [e for e in session.cache().audit.entries() if e.action == "viewed"]
    assert viewed and viewed[-1].id == w.chart_tab.view.patient.id


def test_conflict_is_offered_and_resolved(qtbot, window, session):
    """Another client changes a resource the user also edited offline: the panel offers both."""
    w = window
    w.patients.setCurrentRow(2)  # Jordan Rivera
    qtbot.waitUntil(lambda: w.chart_tab.view is not None, timeout=5000)
    cache = session.cache()
    resource = next(r for r in cache.patient_resources("demo-rivera", ("Condition",)))
    mine = json.loads(json.dumps(resource))
    mine["note"] = [{"text": "mine"}]
    cache.edit(mine, "Dr. Lee", "dentist", gpid="APX-1A2B3C4D")
    theirs = session.client().read("Condition", resource["id"])
    theirs["note"] = [{"text": "theirs"}]
    session.client().update(theirs, gpid="APX-1A2B3C4D", version=theirs["meta"]["versionId"])
    session.sync().push()
    w.show_conflicts()
    qtbot.waitUntil(lambda: w.conflict_list.count() == 1 and "mine" in w.conflict_list.item(0).text(),
                    timeout=5000)
    w.conflict_list.setCurrentRow(0)
    w._resolve("theirs")
    qtbot.waitUntil(lambda: w.conflict_list.item(0).text() == "No conflicts.", timeout=5000)
    assert cache.get("Condition", resource["id"])["note"][0]["text"] == "theirs"


def test_a_conflict_is_described_in_words_in_the_chosen_numbering(qtbot, window, session):
    """Planned work completed here while a note was added on the server: the panel names the tooth and
    the work, and says per element what mine and theirs hold, not the records' JSON."""
    w = window
    w.set_numbering(NumberingSystem.FDI)
    w.patients.setCurrentRow(2)  # Jordan Rivera
    qtbot.waitUntil(lambda: w.chart_tab.view is not None, timeout=5000)
    cache = session.cache()
    crown = next(r for r in cache.patient_resources("demo-rivera", ("ServiceRequest",))
                 if "D2740" in json.dumps(r["code"]))
    mine = json.loads(json.dumps(crown))
    mine["status"] = "completed"
    cache.edit(mine, "Dr. Lee", "dentist", gpid="APX-1A2B3C4D")
    theirs = session.client().read("ServiceRequest", crown["id"])
    theirs["note"] = [{"text": "Patient asked to wait until after the holidays"}]
    session.client().update(theirs, gpid="APX-1A2B3C4D", version=theirs["meta"]["versionId"])
    session.sync().push()
    w.show_conflicts()
    qtbot.waitUntil(lambda: w.conflict_list.count() == 1 and w.conflict_list.item(0).text() != "No conflicts.",
                    timeout=5000)
    lines = w.conflict_list.item(0).text().splitlines()
    assert lines[0] == "Tooth 36 zirconia crown D2740 (planned work)"  # Universal 19 in FDI
    assert sorted(lines[1:]) == ["• note — mine: —; theirs: Patient asked to wait until after the holidays",
                                 "• status — mine: completed; theirs: active"]
    assert f"ServiceRequest/{crown['id']}, server version 2" in w.conflict_list.item(0).toolTip()


def test_every_tab_fits_beside_the_patient_list_in_the_default_window(qtbot, session, settings):
    """No tab's controls are wider than the room beside the patient list at the size the window opens
    at, so opening a tab neither squeezes the list (names cut off) nor clips the tab's own controls."""
    from odonto_desk.ui.main_window import MainWindow

    w = MainWindow(session, settings, sync=False)  # its own default size, 1360 × 820
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.patients.count() == 3, timeout=5000)
    w.patients.setCurrentRow(2)
    qtbot.waitUntil(lambda: w.chart_tab.view is not None, timeout=5000)
    size, listed = w.size(), w.patients.width()
    for name, holder in w.patient_tabs.items():
        w.tabs.setCurrentWidget(holder)
        tab = w.tab(name)
        qtbot.waitUntil(lambda t=tab: t.isVisible(), timeout=5000)
        qtbot.wait(20)
        assert w.size() == size, f"the {name} tab made the window grow"
        assert w.patients.width() >= listed, f"the {name} tab squeezed the patient list"
        assert tab.width() >= tab.minimumSizeHint().width(), f"the {name} tab is clipped"


def test_every_control_has_an_accessible_name(qtbot, window):
    w = window
    w.patients.setCurrentRow(0)
    kinds = (QLineEdit, QComboBox, QListWidget, QTableWidget, QSlider, QAbstractButton)
    unnamed = [type(c).__name__ + ":" + (c.text() if hasattr(c, "text") else "")
               for kind in kinds for c in w.findChildren(kind)
               if c.isVisible() and not c.accessibleName() and not (hasattr(c, "text") and c.text())
               and c.parent() is not None and type(c.parent()).__name__ not in ("QComboBox", "QTabBar",
                                                                                 "QScrollBar", "QCompleter")]
    assert unnamed == []


def _open(qtbot, w, patient_id):
    for i in range(w.patients.count()):
        if w.patients.item(i).data(Qt.ItemDataRole.UserRole).id == patient_id:
            w.patients.setCurrentRow(i)
    qtbot.waitUntil(lambda: w.patient is not None and w.patient.id == patient_id
                    and "planned" in w.header.text(), timeout=5000)  # the chart has loaded


def test_header_shows_the_medical_alerts_allergies_first(qtbot, window):
    w = window
    _open(qtbot, w, "demo-rivera")
    qtbot.waitUntil(lambda: w.alerts_label.isVisible(), timeout=5000)
    assert w.alerts_label.text() == "⚠ Latex allergy"
    assert w.alerts_label.accessibleName() == "Medical alerts: Latex allergy"
    assert "Allergy: latex allergy" in w.alerts_label.toolTip()
    assert "could not be read" not in w.header.text()  # the alert is not taken for a broken chart mark
    assert w.chart_tab.view is not None and not w.chart_tab.view.unreadable
    _open(qtbot, w, "demo-haddad")
    qtbot.waitUntil(lambda: "Premedicate" in w.alerts_label.text(), timeout=5000)
    # premedication before the medication: what must be done before treating comes first
    assert w.alerts_label.text() == "⚠ Premedicate: joint replacement · Anticoagulant (warfarin)"
    assert "Latex" not in w.alerts_label.text()


def test_header_shows_no_alerts_for_a_patient_without_any(qtbot, window):
    w = window
    _open(qtbot, w, "demo-rivera")
    qtbot.waitUntil(lambda: w.alerts_label.isVisible(), timeout=5000)
    _open(qtbot, w, "demo-chen")
    qtbot.waitUntil(lambda: not w.alerts_label.isVisible(), timeout=5000)
    assert w.alerts_label.text() == "" and "allergy" not in w.header.text().lower()
