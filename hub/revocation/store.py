"""Who is revoked: a small SQLite file beside the hub's database.

The broker writes it (``entra-access revoke``, the access page's button) and reads it on every credential request;
the authenticator reads it at sign-in and at every membership re-check. Each operation opens its own short
connection, so the two processes never hold the file open between requests. Unrevoked entries stay as history
(``unrevoked_at``, ``unrevoked_by``): the revocations policy keeps denying the sessions issued before an unrevoke until
they have expired.
"""

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass

from traitlets import TraitError, Unicode
from traitlets.config import Configurable

from .document import Entry

FILE_NAME = "revocations.sqlite"
_COLUMNS = "username, oid, revoked_at, revoked_by, unrevoked_at, unrevoked_by"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    oid TEXT NOT NULL,
    revoked_at REAL NOT NULL,
    revoked_by TEXT NOT NULL,
    unrevoked_at REAL,
    unrevoked_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_revocation ON revocations (username) WHERE unrevoked_at IS NULL;
"""


@dataclass(frozen=True)
class Revocation:
    username: str
    oid: str
    revoked_at: float
    revoked_by: str
    unrevoked_at: float | None = None
    unrevoked_by: str | None = None

    @property
    def entry(self) -> Entry:
        return Entry(self.oid, self.revoked_at, self.unrevoked_at)


class RevocationStore(Configurable):
    """The revocations file. Configure as ``c.RevocationStore.path``."""

    path = Unicode(
        "",
        config=True,
        help=f"""
        The SQLite file that records who is revoked (`entra-access revoke`), read by the credential broker on every
        request and by the authenticator at every sign-in and membership re-check. Default: `{FILE_NAME}` in the
        folder of the hub's SQLite database (`JupyterHub.db_url`), so that it lives on the same volume and survives
        restarts. Set it when the hub's database is not SQLite. Losing this file un-revokes everyone at the hub (the
        AWS deny stays until the next revoke or unrevoke rewrites it).
        """,
    )

    _schema_ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self.path:
            raise TraitError("RevocationStore.path is not set: the hub config sets it beside the hub's database")
        connection = sqlite3.connect(self.path, timeout=10)
        if not self._schema_ready:  # once per process: every request reads the file
            connection.executescript(_SCHEMA)
            self._schema_ready = True
        return connection

    def _rows(self, where: str, *args) -> list[Revocation]:
        # `where` is one of this class's constant clauses; values are always bound parameters.
        query = f"SELECT {_COLUMNS} FROM revocations WHERE {where} ORDER BY revoked_at, id"  # noqa: S608
        with closing(self._connect()) as db:
            rows = db.execute(query, args).fetchall()
        return [Revocation(*row) for row in rows]

    def revoked(self) -> list[Revocation]:
        """Everyone revoked now, oldest first."""
        return self._rows("unrevoked_at IS NULL")

    def find(self, username: str | None = None, oid: str | None = None) -> Revocation | None:
        """The open revocation of this account or this Entra identity, if any."""
        found = self._rows("unrevoked_at IS NULL AND (username = ? OR oid = ?)", username or "", oid or "")
        return found[0] if found else None

    def unrevoked_since(self, since: float) -> list[Revocation]:
        """Revocations lifted at or after ``since`` (their entries may still be in the IAM policy)."""
        return self._rows("unrevoked_at >= ?", since)

    def revoke(self, username: str, oid: str, by: str, now: float | None = None) -> tuple[Revocation, bool]:
        """Record a revocation; an open one is kept as it is. Returns it, and whether it is new."""
        existing = self.find(username=username)
        if existing:
            return existing, False
        revocation = Revocation(username, oid, time.time() if now is None else now, by)
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO revocations (username, oid, revoked_at, revoked_by) VALUES (?, ?, ?, ?)",
                (username, oid, revocation.revoked_at, by),
            )
        return revocation, True

    def unrevoke(self, username: str, by: str, now: float | None = None) -> Revocation | None:
        """Lift the open revocation of ``username``; None when there is none."""
        existing = self.find(username=username)
        if existing is None or existing.username != username:
            return None
        lifted_at = time.time() if now is None else now
        with closing(self._connect()) as db, db:
            db.execute(
                "UPDATE revocations SET unrevoked_at = ?, unrevoked_by = ? WHERE username = ? AND unrevoked_at IS NULL",
                (lifted_at, by, username),
            )
        return Revocation(existing.username, existing.oid, existing.revoked_at, existing.revoked_by, lifted_at, by)
