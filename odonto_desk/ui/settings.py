"""Settings, declared once: each option with its type, default and check, stored in QSettings.

``setting/…`` keys are preferences the user chooses; ``persist/…`` keys are remembered state
(window geometry, last user). A bad stored value is logged and replaced by the default. QSettings
is not thread-safe: use from the UI thread only. Inject a :class:`Settings`; tests give one backed
by a temporary ini file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from odonto_desk.domain.teeth import NumberingSystem

log = logging.getLogger(__name__)
VERSION = 1


@dataclass(frozen=True)
class Option:
    key: str
    default: Any
    parse: Callable[[Any], Any]
    title: str
    choices: tuple[str, ...] = ()  # the values a user picks from, when the option is a choice


def _minutes(v: Any) -> int:
    n = int(v)
    if not 0 <= n <= 240:
        raise ValueError(f"{n} minutes is out of range 0–240")
    return n


def _url(v: Any) -> str:
    s = str(v).strip()
    if s and not s.startswith(("http://", "https://")):
        raise ValueError(f"{s!r} is not an http(s) URL")
    return s.rstrip("/")


PERIO_PATHS = ("maxillary-first", "facials-first", "mandibular-lingual-first", "custom")


def _perio_segments(v: Any) -> str:
    from odonto_desk.domain.perio_paths import parse_segments

    s = str(v).strip()
    if s:
        parse_segments(s)  # a DomainError (a ValueError) names the bad pass
    return s


def _perio_path(v: Any) -> str:
    s = str(v)
    if s not in PERIO_PATHS:
        raise ValueError(f"{s!r} is not a perio path preset")
    return s


def _flag(v: Any) -> bool:
    if isinstance(v, str):
        if v.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{v!r} is not true or false")
        return v.lower() in ("true", "1")
    return bool(v)


def _mm(v: Any) -> int:
    n = int(v)
    if not 0 <= n <= 19:
        raise ValueError(f"{n} mm is out of range 0–19")
    return n


def _role(v: Any) -> str:
    s = str(v)
    if s not in ("", "dentist", "hygienist", "front-desk"):
        raise ValueError(f"{s!r} is not a role")
    return s


def _names(v: Any) -> str:
    """Names one a line, sorted and without repeats (a list read back from the ini file is accepted too)."""
    items = v if isinstance(v, list | tuple) else str(v).split("\n")
    return "\n".join(sorted({str(n).strip() for n in items} - {""}))


def _failures(v: Any) -> str:
    """``{"normalised name": [count, unix time of the last]}`` as JSON; anything else is refused."""
    import json

    doc = json.loads(str(v))
    if not isinstance(doc, dict) or not all(
            isinstance(k, str) and isinstance(c, list) and len(c) == 2 and isinstance(c[0], int) and c[0] >= 0
            and isinstance(c[1], int | float) for k, c in doc.items()):
        raise ValueError("not a table of wrong PIN counts")
    return json.dumps(doc, sort_keys=True)


OPTIONS: dict[str, Option] = {o.key: o for o in (
    Option("setting/numbering", NumberingSystem.UNIVERSAL.value, lambda v: NumberingSystem(str(v)).value,
           "Tooth numbering", tuple(n.value for n in NumberingSystem)),
    Option("setting/palette", "okabe-ito", lambda v: {"okabe-ito": "okabe-ito"}[str(v)], "Status palette",
           ("okabe-ito",)),
    Option("setting/server_url", "", _url, "Apex server (blank: the embedded reference server)"),
    Option("setting/idle_lock_minutes", 10, _minutes, "Lock after idle (minutes, 0 = never)"),
    Option("setting/perio_path", "maxillary-first", _perio_path, "Perio entry path", PERIO_PATHS),
    Option("setting/perio_custom_path", "1-16 F, 16-1 L, 17-32 L, 32-17 F", _perio_segments,
           "Perio custom path (passes: first-last F/L)"),
    Option("setting/perio_implants", True, _flag, "Perio path stops at implants"),
    Option("setting/perio_red_pd", 4, _mm, "Perio: PD shown red from (mm)"),
    Option("setting/perio_red_gm", 2, _mm, "Perio: recession shown red from (mm)"),
    Option("setting/perio_red_cal", 6, _mm, "Perio: CAL shown red from (mm)"),
    Option("setting/perio_red_mgj", 2, _mm, "Perio: MGJ shown red up to (mm)"),
    Option("setting/perio_red_furcation", 1, _mm, "Perio: furcation shown red from (class)"),
    Option("setting/perio_red_mobility", 1, _mm, "Perio: mobility shown red from (grade)"),
    Option("persist/user", "", str, "Last user"),
    Option("persist/role", "", _role, "Last role"),
    Option("persist/geometry", b"", bytes, "Window geometry"),
    Option("persist/last_patient", "", str, "Last patient open"),
    # Who has an unlock PIN here (normalised names, no secret): lets a start without one skip the keyring.
    Option("persist/pin_users", "", _names, "Users with an unlock PIN"),
    # Wrong PINs in a row per user, and when the last was typed: the lock's limit outlives a sign-out.
    Option("persist/pin_failures", "{}", _failures, "Wrong unlock PINs in a row"),
)}


class Settings(QObject):
    changed = Signal(str)  # key

    def __init__(self, qsettings: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.q = qsettings or QSettings()
        self._upgrade()

    def get(self, key: str) -> Any:
        option = OPTIONS[key]
        raw = self.q.value(key, option.default)
        try:
            return option.parse(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("setting %s: bad stored value %r (%s); using the default", key, raw, exc)
            self.q.setValue(key, option.default)
            return option.default

    def set(self, key: str, value: Any) -> None:
        option = OPTIONS[key]
        parsed = option.parse(value)  # raises on a bad value: the caller shows it
        if self.get(key) != parsed:
            self.q.setValue(key, parsed)
            self.changed.emit(key)

    def _upgrade(self) -> None:
        version = int(self.q.value("meta/version", 0) or 0)
        if version < VERSION:
            # Version 1 is the first; later versions add their steps here, after a backup of the file.
            self.q.setValue("meta/version", VERSION)
