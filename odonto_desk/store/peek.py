"""One value of a cache file's state, read without opening the cache.

:class:`~odonto_desk.store.cache.Cache` checks the schema, migrates and brings the outbox and the
audit trail with it. The first frame of a cold start needs one row of ``sync_state`` before any
of that, so it reads it here: read-only, with the standard library's sqlite3 alone.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote


class StatePeek:
    """``get_state`` of a cache file, read-only. A missing, locked, damaged or older file reads as
    no value: what is peeked at is only ever a head start, never the record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def get_state(self, key: str, default: str | None = None) -> str | None:
        if not self.path.is_file():
            return default
        try:
            conn = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True, timeout=0.5)
            try:
                row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return default
        return str(row[0]) if row and row[0] is not None else default
