"""Export a cache file as plain FHIR JSON files, byte for byte as the server sent them.

``DIR/<Type>/<id>.json`` holds each server copy exactly as it is stored in the ``raw`` column (the
text the server answered with), so an export can be diffed against the server or loaded into
another FHIR tool without a round trip through our models changing a byte. Edits the server has not
confirmed yet are not server data: they go to ``DIR/_local/<Type>/<id>.json`` and the manifest
says so, so nobody mistakes them for what the server holds.

The rows are read with one SELECT, which in WAL mode is one consistent snapshot even while a sync
writes; nothing is locked while the files are written. The export is audited once it is complete.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odonto_desk.store.audit import utc_now
from odonto_desk.store.cache import FHIR_ID, Cache

MANIFEST = "manifest.json"
LOCAL_DIR = "_local"
# Type names become directory names: letters only, so no row can write outside DIR.
RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")


class ExportError(Exception):
    """The export cannot be written (e.g. the target directory already holds files)."""


@dataclass
class ExportReport:
    out: Path
    server: Counter[str] = field(default_factory=Counter)
    local: Counter[str] = field(default_factory=Counter)
    pending_deletes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "Type/id: reason"
    exported_at: str = ""

    @property
    def total(self) -> int:
        return sum(self.server.values()) + sum(self.local.values())


def _file_for(root: Path, rtype: str, rid: str) -> Path | None:
    """``root/<Type>/<id>.json``, or None when the names could escape ``root`` or collide."""
    if not RESOURCE_TYPE.fullmatch(rtype) or not FHIR_ID.fullmatch(rid) or rid in (".", ".."):
        return None
    return root / rtype / f"{rid}.json"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def _check_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty directory; choose a new one")


def export_cache(cache: Cache, out: str | Path, *, user: str, role: str,
                 clock: Callable[[], str] = utc_now) -> ExportReport:
    """Write every cached resource under ``out`` (which must be new or empty) and audit it.

    Server copies of resources deleted locally but not yet on the server are still exported (the
    server holds them) and listed as pending deletes; resources the server deleted are not.
    """
    root = Path(out)
    _check_target(root)
    root.mkdir(parents=True, exist_ok=True)
    report = ExportReport(root)
    rows = cache.db.conn.execute(
        "SELECT type, id, raw, local, local_state, deleted FROM resource ORDER BY type, id")
    for rtype, rid, raw, local, state, deleted in rows:
        _export_row(report, rtype, rid, raw, local, state, bool(deleted))
    report.exported_at = clock()
    _write(root / MANIFEST, json.dumps(manifest(report, cache), indent=2, ensure_ascii=False) + "\n")
    cache.audit.record(user, role, "exported", None, None, None,
                       f"exported {sum(report.server.values())} server and {sum(report.local.values())} "
                       "local resources as FHIR JSON")
    return report


def _export_row(report: ExportReport, rtype: str, rid: str, raw: str | None, local: str | None,
                state: str, deleted: bool) -> None:
    server_file = _file_for(report.out, rtype, rid)
    if server_file is None:
        report.skipped.append(f"{rtype}/{rid}: not a safe file name")
        return
    if raw is not None and (not deleted or state == "deleted"):
        _write(server_file, raw)
        report.server[rtype] += 1
    if state == "deleted":
        report.pending_deletes.append(f"{rtype}/{rid}")
    elif local is not None:
        local_file = _file_for(report.out / LOCAL_DIR, rtype, rid)
        assert local_file is not None  # same names as server_file
        _write(local_file, local)
        report.local[rtype] += 1


def manifest(report: ExportReport, cache: Cache) -> dict[str, Any]:
    """What the export holds, for a reader who has only the directory."""
    return {
        "format": "FHIR R4 JSON; <Type>/<id>.json are the server's bytes exactly as received",
        "exported": report.exported_at,
        "cache": str(cache.path),
        "counts": dict(sorted(report.server.items())),
        "total": sum(report.server.values()),
        "local": {
            "note": f"{LOCAL_DIR}/<Type>/<id>.json are edits made here and not yet confirmed by the server "
                    "(new resources, or the edited version of a server resource); they are not server data",
            "counts": dict(sorted(report.local.items())),
            "total": sum(report.local.values()),
            "pending_deletes": report.pending_deletes,
        },
        "skipped": report.skipped,
    }
