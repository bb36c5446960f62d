"""The cache's SQLite file: connection settings, transactions and schema migrations.

One file per server. The connection runs in WAL mode so the UI thread can read while the sync
worker writes; ``synchronous=NORMAL`` is durable enough in WAL (a power loss can drop the last
commits but never corrupts the file), and foreign keys are on so the conflict rows follow a
resource when its client id is replaced by the server's.

Python's sqlite3 is opened with ``isolation_level=None`` so nothing starts a transaction behind
our back: every write goes through :func:`transaction`, which takes the write lock up front
(``BEGIN IMMEDIATE``, so two writers queue instead of failing half-way) and nests with savepoints,
the same way ``sqlite_utils.Database.atomic`` does.

Migrations are an ordered list of functions; ``MIGRATIONS[n]`` moves a database from version ``n``
to ``n + 1``. Each runs in its own transaction together with the version bump, and must keep every
row (add and backfill columns, never recreate a table empty). They get the connection wrapped in a
``sqlite_utils.Database``; sqlite-utils (and the numpy and click it imports, ~135 ms) is loaded only
when a migration runs, not on every start of the app.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 5000

_savepoints = count(1)


class Database:
    """The open cache file: its connection, and ``close``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()


def connect(path: str | Path, *, migrate_to: int | None = None) -> Database:
    """Open (or create) the cache file at ``path`` and migrate it to ``migrate_to`` (default: current)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    db = Database(conn)
    migrate(db, migrate_to)
    return db


@contextmanager
def transaction(db: Database) -> Iterator[sqlite3.Connection]:
    """All writes inside commit together or not at all; nested calls become savepoints."""
    conn = db.conn
    if conn.in_transaction:
        name = f"odk_sp_{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # Also when COMMIT itself fails (e.g. a deferred constraint): never leave the lock held.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# --- migrations ------------------------------------------------------------------------------------


def _v1_initial(db: sqlite_utils.Database) -> None:
    """The first schema: resources, client-id map, outbox, sync state and the audit trail."""
    # executescript() would COMMIT the migration's transaction; run the statements one by one.
    for statement in _statements(_V1_SQL):
        db.conn.execute(statement)


def _statements(script: str) -> Iterator[str]:
    """The complete SQL statements of ``script`` (trigger bodies hold semicolons, so split by grammar)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:60]}")


def _v2_last_updated_conflicts_webhooks(db: sqlite_utils.Database) -> None:
    """``resource.last_updated`` (backfilled from the raw JSON), conflicts and webhook replay protection."""
    resource = db.table("resource")
    resource.add_column("last_updated", str)
    db.conn.execute(
        "UPDATE resource SET last_updated = json_extract(raw, '$.meta.lastUpdated') "
        "WHERE raw IS NOT NULL AND json_valid(raw)")
    db.conn.execute("""
        CREATE TABLE conflict (
            cid INTEGER PRIMARY KEY AUTOINCREMENT,
            type TEXT NOT NULL,
            id TEXT NOT NULL,
            local TEXT,
            server TEXT,
            server_version TEXT,
            detected TEXT NOT NULL,
            resolved TEXT,
            resolution TEXT CHECK (resolution IN ('mine', 'theirs')),
            FOREIGN KEY (type, id) REFERENCES resource (type, id) ON UPDATE CASCADE
        )""")
    db.table("conflict").create_index(["type", "id"], index_name="conflict_resource")
    db.conn.execute("CREATE TABLE webhook_delivery (id TEXT PRIMARY KEY, received TEXT NOT NULL)")


_V1_SQL = """
CREATE TABLE resource (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version TEXT,
    patient TEXT,
    raw TEXT,
    local TEXT,
    local_state TEXT NOT NULL DEFAULT 'clean'
        CHECK (local_state IN ('clean', 'created', 'updated', 'deleted')),
    deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    PRIMARY KEY (type, id)
);
CREATE INDEX resource_patient ON resource (patient, type);
CREATE TABLE id_map (
    type TEXT NOT NULL,
    local_id TEXT NOT NULL,
    server_id TEXT,
    PRIMARY KEY (type, local_id)
);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('create', 'update', 'delete', 'op')),
    payload TEXT,
    base_version TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    gpid TEXT,
    created TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'conflict', 'done', 'cancelled')),
    batch INTEGER
);
CREATE INDEX outbox_state ON outbox (state, seq);
CREATE INDEX outbox_resource ON outbox (type, id, state);
CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    type TEXT,
    id TEXT,
    version TEXT,
    summary TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_target ON audit (type, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def _v3_local_edits_index(db: sqlite_utils.Database) -> None:
    """An index of the rows with a local edit: confirming a create rewrites the references to its
    client id in those rows, and finding them scanned the whole cache (every server copy) each time."""
    db.conn.execute("CREATE INDEX resource_local ON resource (type, id) WHERE local IS NOT NULL")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1_initial,
    _v2_last_updated_conflicts_webhooks,
    _v3_local_edits_index,
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: Database) -> int:
    """The version the file is at; 0 for a new, empty file."""
    if not db.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone():
        return 0
    row = db.conn.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def migrate(db: Database, target: int | None = None) -> int:
    """Apply the missing migrations up to ``target`` (default: the newest), each atomically; return the version.

    A file newer than this program is refused rather than guessed at: an older client writing
    into a newer schema could lose what the newer one relies on.
    """
    target = SCHEMA_VERSION if target is None else target
    with transaction(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                     "(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)")
        conn.execute("INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, 0)")
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise RuntimeError(f"the cache file is at schema {current}, newer than this program ({SCHEMA_VERSION})")
    if current >= target:
        return current
    import sqlite_utils

    wrapped = sqlite_utils.Database(db.conn)
    for version in range(current, target):
        with transaction(db) as conn:
            MIGRATIONS[version](wrapped)
            conn.execute("UPDATE schema_version SET version = ? WHERE id = 1", (version + 1,))
    return schema_version(db)
