"""The job store: people's jobs and their runs, in a sqlite file (``NotebookJobs.db_path``) written only by the
credential broker's process (its pages and its scheduler API).

Values are validated before they get here (``validation.py``); the store keeps them and enforces what must hold
whatever the caller: a job's name is unique per owner, a schedule tick or a "Run now" request starts at most one
run (the ``claim`` column, unique while a start holds it), and only a running run's token gets credentials.

A run's life: ``queued`` (asked for with "Run now", waiting for the scheduler) -> ``running`` (the scheduler started
it; ``token_id`` is its hub token once issued) -> ``success`` or ``failed`` (with the reason in words). A start the
broker refused is recorded as ``failed`` with the reason, so the page says why a run did not happen.
"""

import json
import secrets
import sqlite3
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 10  # job and run ids: [a-z0-9]{10} (the DAG id is notebook-job-<job id>)
QUEUED, RUNNING, SUCCESS, FAILED = "queued", "running", "success", "failed"
RUN_STATES = (QUEUED, RUNNING, SUCCESS, FAILED)
FINAL_STATES = (SUCCESS, FAILED)
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    notebook_key TEXT NOT NULL,      -- relative to the owner's home
    schedule TEXT NOT NULL,          -- five-field cron, UTC
    access_group TEXT NOT NULL,
    parameters TEXT NOT NULL,        -- JSON object
    paused INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (owner, name)
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,            -- a deleted job's runs stay: the record of what ran, and why tokens ended
    airflow_run_id TEXT,
    logical_date TEXT,               -- the schedule tick (scheduled runs)
    request_id TEXT UNIQUE,          -- the "Run now" request (manual runs)
    requested_by TEXT,               -- who asked for a manual run; NULL: the schedule
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'success', 'failed')),
    reason TEXT,
    claim TEXT UNIQUE,               -- '<job id>@<tick>' while a start holds the tick; NULL once refused
    requested_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    notebook_version TEXT,           -- the S3 version run (pinned for "run again exactly")
    parameters TEXT,                 -- JSON the run used (pinned for "run again exactly")
    token_id TEXT,                   -- the run's hub token (deleted from the hub when the run closes)
    token_hash TEXT                  -- its SHA-256, which identifies it (never the token itself)
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job_id, requested_at);
CREATE INDEX IF NOT EXISTS runs_by_token_hash ON runs (token_hash);
"""


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def utc_now() -> datetime:
    return datetime.now(UTC)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    name: str
    notebook_key: str
    schedule: str
    access_group: str
    parameters: dict
    paused: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Run:
    id: str
    job_id: str
    airflow_run_id: str | None
    logical_date: datetime | None
    request_id: str | None
    requested_by: str | None
    state: str
    reason: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    notebook_version: str | None
    parameters: dict | None
    token_id: str | None

    @property
    def is_open(self) -> bool:
        return self.state == RUNNING

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class NameTaken(ValueError):
    """The owner already has a job of that name."""


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        notebook_key=row["notebook_key"],
        schedule=row["schedule"],
        access_group=row["access_group"],
        parameters=json.loads(row["parameters"]),
        paused=bool(row["paused"]),
        created_at=_moment(row["created_at"]),
        updated_at=_moment(row["updated_at"]),
    )


def _run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"],
        job_id=row["job_id"],
        airflow_run_id=row["airflow_run_id"],
        logical_date=_moment(row["logical_date"]),
        request_id=row["request_id"],
        requested_by=row["requested_by"],
        state=row["state"],
        reason=row["reason"],
        requested_at=_moment(row["requested_at"]),
        started_at=_moment(row["started_at"]),
        finished_at=_moment(row["finished_at"]),
        notebook_version=row["notebook_version"],
        parameters=None if row["parameters"] is None else json.loads(row["parameters"]),
        token_id=row["token_id"],
    )


def tick_claim(job_id: str, logical_date: datetime) -> str:
    return f"{job_id}@{_text(logical_date)}"


class JobStore:
    """The job store in one sqlite file. Each method is one transaction; callers hold no state between them."""

    def __init__(self, path: str, clock: Callable[[], datetime] = utc_now):
        self.path, self.clock = path, clock
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA busy_timeout = 5000")
        self.db.executescript(SCHEMA)  # idempotent: CREATE ... IF NOT EXISTS
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- jobs

    def create_job(
        self, *, owner: str, name: str, notebook_key: str, schedule: str, access_group: str, parameters: dict
    ) -> Job:
        now = _text(self.clock())
        job_id = new_id()
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO jobs (id, owner, name, notebook_key, schedule, access_group, parameters, paused, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    (job_id, owner, name, notebook_key, schedule, access_group, json.dumps(parameters), now, now),
                )
        except sqlite3.IntegrityError:
            raise NameTaken(name) from None
        return self.job(job_id)

    def update_job(
        self, job_id: str, *, name: str, notebook_key: str, schedule: str, access_group: str, parameters: dict
    ) -> Job | None:
        """Change what the owner may edit; None when the job is gone."""
        try:
            with self._transaction() as db:
                db.execute(
                    "UPDATE jobs SET name = ?, notebook_key = ?, schedule = ?, access_group = ?, parameters = ?, "
                    "updated_at = ? WHERE id = ?",
                    (name, notebook_key, schedule, access_group, json.dumps(parameters), _text(self.clock()), job_id),
                )
        except sqlite3.IntegrityError:
            raise NameTaken(name) from None
        return self.job(job_id)

    def job(self, job_id: str) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def jobs(self, owner: str | None = None) -> list[Job]:
        """Every job (the scheduler, admins), or one person's, by owner then name."""
        if owner is None:
            rows = self.db.execute("SELECT * FROM jobs ORDER BY owner, name")
        else:
            rows = self.db.execute("SELECT * FROM jobs WHERE owner = ? ORDER BY name", (owner,))
        return [_job(row) for row in rows]

    def set_paused(self, job_id: str, paused: bool, reason: str) -> list[Run]:
        """Pause or resume a job. Pausing closes its open runs and queued requests as failed with ``reason``;
        returns the runs closed (their tokens must be deleted)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET paused = ?, updated_at = ? WHERE id = ?", (int(paused), _text(self.clock()), job_id)
            )
            return self._close_runs(db, "job_id = ?", (job_id,), reason) if paused else []

    def delete_job(self, job_id: str, reason: str) -> list[Run]:
        """Delete a job; its open runs and queued requests close as failed with ``reason``, and its runs stay on
        record (the executed notebooks stay in the owner's home). Returns the runs closed (their tokens must be
        deleted)."""
        with self._transaction() as db:
            closed = self._close_runs(db, "job_id = ?", (job_id,), reason)
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return closed

    # -- runs

    def run(self, run_id: str) -> Run | None:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _run(row)

    def runs(self, job_id: str, limit: int = 50) -> list[Run]:
        """A job's latest runs, newest first."""
        rows = self.db.execute(
            "SELECT * FROM runs WHERE job_id = ? ORDER BY requested_at DESC, rowid DESC LIMIT ?", (job_id, limit)
        )
        return [_run(row) for row in rows]

    def open_runs(self, job_id: str) -> list[Run]:
        """A job's running runs."""
        rows = self.db.execute("SELECT * FROM runs WHERE job_id = ? AND state = ?", (job_id, RUNNING))
        return [_run(row) for row in rows]

    def open_run_for_token(self, token_hash: str) -> Run | None:
        """The running run whose hub token this is (by the token's hash: token ids are reused by the hub once a
        token is deleted), or None."""
        row = self.db.execute("SELECT * FROM runs WHERE token_hash = ? AND state = ?", (token_hash, RUNNING)).fetchone()
        return None if row is None else _run(row)

    def last_run_for_token(self, token_hash: str) -> Run | None:
        """The latest run that had this hub token, open or not: to say why a token gets nothing."""
        row = self.db.execute(
            "SELECT * FROM runs WHERE token_hash = ? ORDER BY requested_at DESC, rowid DESC LIMIT 1", (token_hash,)
        ).fetchone()
        return None if row is None else _run(row)

    def request_run(
        self,
        job_id: str,
        *,
        requested_by: str,
        notebook_version: str | None = None,
        parameters: dict | None = None,
    ) -> Run:
        """A "Run now" request: a queued run with a fresh request id for the scheduler to start (once). A pinned
        ``notebook_version`` and ``parameters`` make it "run again exactly"."""
        run_id, request_id = new_id(), secrets.token_hex(16)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (id, job_id, request_id, requested_by, state, requested_at, notebook_version, "
                "parameters) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    job_id,
                    request_id,
                    requested_by,
                    QUEUED,
                    _text(self.clock()),
                    notebook_version,
                    None if parameters is None else json.dumps(parameters),
                ),
            )
        return self.run(run_id)

    def claim_tick(self, job_id: str, airflow_run_id: str, logical_date: datetime) -> Run | None:
        """Start the scheduled run of one tick: a running run holding the tick, or None when a start already holds
        it (the tick was started before)."""
        run_id, now = new_id(), _text(self.clock())
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO runs (id, job_id, airflow_run_id, logical_date, state, claim, requested_at, "
                    "started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        job_id,
                        airflow_run_id,
                        _text(logical_date),
                        RUNNING,
                        tick_claim(job_id, logical_date),
                        now,
                        now,
                    ),
                )
        except sqlite3.IntegrityError:
            return None
        return self.run(run_id)

    def claim_request(self, job_id: str, request_id: str, airflow_run_id: str) -> Run | None:
        """Start the queued run of a "Run now" request of this job, once: the running run, or None when this job has
        no such request waiting."""
        with self._transaction() as db:
            claimed = db.execute(
                "UPDATE runs SET state = ?, airflow_run_id = ?, started_at = ? "
                "WHERE job_id = ? AND request_id = ? AND state = ?",
                (RUNNING, airflow_run_id, _text(self.clock()), job_id, request_id, QUEUED),
            ).rowcount
            row = db.execute("SELECT * FROM runs WHERE request_id = ?", (request_id,)).fetchone()
        return _run(row) if claimed else None

    def record_refused(
        self, job_id: str, *, airflow_run_id: str | None, logical_date: datetime | None, reason: str
    ) -> Run:
        """A start the broker refused before claiming anything (not due, paused, already started), as a failed
        run, so that the page says why."""
        run_id, now = new_id(), _text(self.clock())
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (id, job_id, airflow_run_id, logical_date, state, reason, requested_at, "
                "finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, job_id, airflow_run_id, _text(logical_date), FAILED, reason, now, now),
            )
        return self.run(run_id)

    def refuse_start(self, run_id: str, reason: str) -> Run:
        """A claimed start the broker then refused (the owner is no longer eligible, ...): failed with the reason; a
        scheduled tick is released (a later retry is judged again), a "Run now" request stays used."""
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET state = ?, reason = ?, finished_at = ?, claim = NULL, token_id = NULL WHERE id = ?",
                (FAILED, reason, _text(self.clock()), run_id),
            )
        return self.run(run_id)

    def release_start(self, run_id: str) -> None:
        """A claimed start that could not be decided (the hub did not answer): as if it had not been asked, so that
        the scheduler's retry may start it."""
        with self._transaction() as db:
            row = db.execute("SELECT request_id FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return
            if row["request_id"] is None:
                db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            else:
                db.execute(
                    "UPDATE runs SET state = ?, airflow_run_id = NULL, started_at = NULL, token_id = NULL WHERE id = ?",
                    (QUEUED, run_id),
                )

    def started(
        self, run_id: str, *, token_id: str, token_hash: str, notebook_version: str | None, parameters: dict
    ) -> Run | None:
        """The run's token was issued: record it (its id and hash) with the version and parameters the run is given.
        None when the run was closed meanwhile (paused, deleted): the caller deletes the token."""
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE runs SET token_id = ?, token_hash = ?, notebook_version = ?, parameters = ? "
                "WHERE id = ? AND state = ?",
                (token_id, token_hash, notebook_version, json.dumps(parameters), run_id, RUNNING),
            ).rowcount
        return self.run(run_id) if updated else None

    def finish(self, run_id: str, *, state: str, reason: str | None, notebook_version: str | None) -> Run | None:
        """The scheduler says how an open run ended; returns the run as it was before (its ``token_id`` to delete),
        or None when it was not open."""
        if state not in FINAL_STATES:
            raise ValueError(f"a run finishes as {' or '.join(FINAL_STATES)}, not {state!r}")
        with self._transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ? AND state = ?", (run_id, RUNNING)).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE runs SET state = ?, reason = ?, finished_at = ?, "
                "notebook_version = COALESCE(?, notebook_version) WHERE id = ?",
                (state, reason, _text(self.clock()), notebook_version, run_id),
            )
        return _run(row)

    def close_runs_of(self, owner: str, reason: str) -> list[Run]:
        """Close every open run and queued request of one person's jobs as failed (their access was revoked);
        returns the runs closed (their tokens must be deleted)."""
        with self._transaction() as db:
            return self._close_runs(db, "job_id IN (SELECT id FROM jobs WHERE owner = ?)", (owner,), reason)

    def _close_runs(self, db: sqlite3.Connection, where: str, arguments: tuple, reason: str) -> list[Run]:
        rows = db.execute(
            f"SELECT * FROM runs WHERE {where} AND state IN (?, ?)",  # noqa: S608 - fixed clauses
            (*arguments, QUEUED, RUNNING),
        ).fetchall()
        db.execute(
            f"UPDATE runs SET state = ?, reason = ?, finished_at = ? WHERE {where} AND state IN (?, ?)",  # noqa: S608
            (FAILED, reason, _text(self.clock()), *arguments, QUEUED, RUNNING),
        )
        return [_run(row) for row in rows]
