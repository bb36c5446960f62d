"""Every window action, declared once: id, text, shortcut (a standard key where one exists), tip.

Menus and toolbars refer to actions by :class:`ActionId`; the window connects each id to a method.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


class ActionId(enum.StrEnum):
    FIND_PATIENT = "find_patient"
    UNDO = "undo"
    REDO = "redo"
    SYNC_NOW = "sync_now"
    PRINT_CHART = "print_chart"
    EXPORT_CHART = "export_chart"
    CONFLICTS = "conflicts"
    LOCK = "lock"
    SET_PIN = "set_pin"
    SIGN_OUT = "sign_out"
    QUIT = "quit"
    FOCUS_COMMAND = "focus_command"
    FOCUS_CHART = "focus_chart"
    PREFERENCES = "preferences"
    MEDICAL_ALERTS = "medical_alerts"


@dataclass(frozen=True)
class ActionSpec:
    text: str
    tip: str
    standard: QKeySequence.StandardKey | None = None
    keys: str = ""


SPECS: dict[ActionId, ActionSpec] = {
    ActionId.FIND_PATIENT: ActionSpec("&Find patient…", "Find a patient by name, GPID or date of birth",
                                      QKeySequence.StandardKey.Find),
    ActionId.UNDO: ActionSpec("&Undo", "Undo the last chart edit", QKeySequence.StandardKey.Undo),
    ActionId.REDO: ActionSpec("&Redo", "Redo the chart edit just undone", QKeySequence.StandardKey.Redo),
    ActionId.SYNC_NOW: ActionSpec("&Sync now", "Send queued edits and fetch others' changes now",
                                  QKeySequence.StandardKey.Refresh),
    ActionId.PRINT_CHART: ActionSpec("&Print chart…", "Print the odontogram", QKeySequence.StandardKey.Print),
    ActionId.EXPORT_CHART: ActionSpec("&Export chart…", "Save the odontogram as PNG or PDF",
                                      QKeySequence.StandardKey.SaveAs),
    ActionId.CONFLICTS: ActionSpec("&Conflicts", "Show edits that conflict with the server's", keys="Ctrl+Shift+K"),
    ActionId.LOCK: ActionSpec("&Lock", "Hide patient data until you unlock again", keys="Ctrl+L"),
    # "&unlock", not "&PIN": P is Print chart's key in the File menu.
    ActionId.SET_PIN: ActionSpec("Set &unlock PIN…", "Choose a PIN only you know to unlock this workstation"),
    ActionId.SIGN_OUT: ActionSpec("Sign &out", "Sign out and choose another user or server"),
    ActionId.QUIT: ActionSpec("&Quit", "Close Odonto Desk", QKeySequence.StandardKey.Quit),
    ActionId.FOCUS_COMMAND: ActionSpec("Charting &command line", "Type a charting command", keys="Ctrl+K"),
    ActionId.FOCUS_CHART: ActionSpec("&Odontogram", "Select teeth with the keyboard", keys="Ctrl+D"),
    ActionId.PREFERENCES: ActionSpec("Pr&eferences…", "Numbering, server, idle lock, perio path and red thresholds",
                                     QKeySequence.StandardKey.Preferences, keys="Ctrl+,"),
    ActionId.MEDICAL_ALERTS: ActionSpec("Medical &alerts…", "Record or resolve the patient's allergies, "
                                        "medications, conditions and premedication needs", keys="Ctrl+Shift+A"),
}


def create_actions(parent: QWidget) -> dict[ActionId, QAction]:
    actions = {}
    for aid, spec in SPECS.items():
        a = QAction(spec.text, parent)
        a.setObjectName(aid.value)
        a.setStatusTip(spec.tip)
        a.setToolTip(spec.tip)
        if spec.standard is not None:
            a.setShortcuts(spec.standard)
        if spec.keys:
            a.setShortcut(QKeySequence(spec.keys))
        actions[aid] = a
    return actions
