"""The service's one database: feedback records (and, with trusted issuers, seen JWT ids).

SQLite file by default, any SQLAlchemy URL (PostgreSQL in production) by `DATABASE_URL`.
SQLAlchemy Core is used rather than hand-written SQL so that the same statements, including
the race-free "insert unless already there", run on both back ends.

The schema is created or brought up to date at start-up (`migrate_schema`): a fresh database
gets every table at once; an older one gets the numbered steps it lacks, recorded in
`schema_version`. Every step is idempotent, so workers starting together cannot break it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)
metadata = sa.MetaData()

feedback_table = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("service_id", sa.String(128), nullable=False),
    sa.Column("card_uuid", sa.String(128), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("accepted_suggestions", sa.JSON, nullable=True),
    sa.Column("override_reason_system", sa.Text, nullable=True),
    sa.Column("override_reason_code", sa.Text, nullable=True),
    sa.Column("override_user_comment", sa.Text, nullable=True),
    sa.Column("outcome_timestamp", sa.String(64), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

# Every override reason of a feedback entry, in the order sent (the feedback row's own
# override_reason_* columns keep the first, as the first release stored it).
feedback_override_reason_table = sa.Table(
    "feedback_override_reason",
    metadata,
    sa.Column("entry_hash", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("system", sa.Text, nullable=True),
    sa.Column("code", sa.Text, nullable=True),
    sa.Column("display", sa.Text, nullable=True),
    sa.Column("user_comment", sa.Text, nullable=True),
)

seen_jwt_table = sa.Table(
    "seen_jwt",
    metadata,
    sa.Column("jti_hash", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.Integer, nullable=False, index=True),
)

# Which topic each issued card had: feedback names only the card uuid (CDS Hooks 2.0
# §Feedback), and the feedback report counts per topic. No patient data in here.
card_issued_table = sa.Table(
    "card_issued",
    metadata,
    sa.Column("card_uuid", sa.String(128), primary_key=True),
    sa.Column("service_id", sa.String(128), nullable=False),
    sa.Column("topic", sa.String(64), nullable=False),
    sa.Column("indicator", sa.String(16), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False, index=True),
    # Computed but not shown to the clinician (a site running the service silently before
    # go-live): not an issued card; the report counts it as one that would have fired.
    sa.Column("silent", sa.Boolean, nullable=False, server_default=sa.false()),
)

# What each suggestion of an issued card would change (feedback/suggested_changes.py): the
# order it changes, or that it adds one, and the study it suggests; so that an accepted
# suggestion counts as an accepted change. No patient data in here either.
suggestion_issued_table = sa.Table(
    "suggestion_issued",
    metadata,
    sa.Column("suggestion_uuid", sa.String(128), primary_key=True),
    sa.Column("card_uuid", sa.String(128), nullable=False, index=True),
    sa.Column("change", sa.String(16), nullable=False),  # "changed" or "added"
    sa.Column("order_reference", sa.Text, nullable=True),  # "ServiceRequest/<id>" if changed
    sa.Column("study", sa.Text, nullable=True),  # the suggested order's code.text
)

schema_version_table = sa.Table(
    "schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("version", sa.Integer, nullable=False),
)

# The report joins feedback to card_issued by card uuid.
feedback_card_index = sa.Index("ix_feedback_card_uuid", feedback_table.c.card_uuid)


# How long a starting worker waits for an unreachable database server: a worker restarted
# while PostgreSQL is away for a moment comes up when it returns, instead of failing to boot
# (gunicorn then stops the whole instance). Well inside the Procfile's --timeout of 30 s,
# past which gunicorn kills a worker that has not finished booting.
START_WAIT_SECONDS = 15.0


def create_database_engine(url: str, start_wait_seconds: float = START_WAIT_SECONDS) -> Engine:
    """An engine whose schema exists; safe to call from several worker processes at once.

    A server database's pool checks each connection before lending it (`pool_pre_ping`): after
    the server restarts, calls reconnect by themselves instead of failing on a dead connection.
    """
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        if not url.startswith("sqlite"):
            _wait_until_reachable(engine, start_wait_seconds)
        _create_schema(engine)
    except DBAPIError as error:
        engine.dispose()  # close the pooled connection: the caller never sees this engine
        raise DatabaseStartError(
            f"DATABASE_URL={engine.url.render_as_string(hide_password=True)}: the database "
            f"cannot be opened or its schema created ({_first_line(error.orig)})"
        ) from None
    except BaseException:
        engine.dispose()
        raise
    return engine


class DatabaseStartError(RuntimeError):
    """The feedback database cannot be used at start-up; the message names DATABASE_URL."""


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0] if text else "no reason given"


def _wait_until_reachable(engine: Engine, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with engine.connect():
                return
        except sa.exc.OperationalError as error:
            if time.monotonic() >= deadline:
                raise
            # The driver's message names the host; the type says enough.
            log.warning(
                "database unreachable at start-up (%s); trying again for up to %.0f s",
                type(error.orig).__name__,
                deadline - time.monotonic(),
            )
            time.sleep(1.0)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers and one writer work at once across gunicorn workers; busy_timeout
    # makes a second writer wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _create_schema(engine: Engine, attempts: int = 3) -> None:
    # Workers start together: on SQLite another one may create a table between our check
    # and our create (PostgreSQL serialises on an advisory lock); a retry then finds it done.
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                migrate_schema(connection)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise


def _v2_card_issued(connection: Connection) -> None:
    card_issued_table.create(connection, checkfirst=True)
    feedback_card_index.create(connection, checkfirst=True)


def _v3_reasons_suggestions_silent(connection: Connection) -> None:
    feedback_override_reason_table.create(connection, checkfirst=True)
    _copy_first_reasons(connection)
    suggestion_issued_table.create(connection, checkfirst=True)
    _add_silent_column(connection)


def _add_silent_column(connection: Connection) -> None:
    columns = {column["name"] for column in sa.inspect(connection).get_columns("card_issued")}
    if "silent" not in columns:
        false = "false" if connection.dialect.name == "postgresql" else "0"
        connection.exec_driver_sql(
            f"ALTER TABLE card_issued ADD COLUMN silent BOOLEAN NOT NULL DEFAULT {false}"
        )


def _copy_first_reasons(connection: Connection) -> None:
    """Entries stored before version 3 kept one reason, in the feedback row: copy it over
    (unless a worker starting at the same moment already did)."""
    feedback, reasons = feedback_table.c, feedback_override_reason_table
    copied = sa.exists().where(reasons.c.entry_hash == feedback.entry_hash)
    kept = sa.or_(
        feedback.override_reason_system.is_not(None),
        feedback.override_reason_code.is_not(None),
        feedback.override_user_comment.is_not(None),
    )
    first_reasons = sa.select(
        feedback.entry_hash,
        sa.literal(0, sa.Integer),
        feedback.override_reason_system,
        feedback.override_reason_code,
        sa.cast(sa.null(), sa.Text),
        feedback.override_user_comment,
    ).where(kept, ~copied)
    columns = ["entry_hash", "position", "system", "code", "display", "user_comment"]
    connection.execute(reasons.insert().from_select(columns, first_reasons))


# Step n brings a database from version n-1 to n. Version 1 is the first release's schema
# (feedback, seen_jwt), which had no schema_version table.
_STEPS: dict[int, Callable[[Connection], None]] = {
    2: _v2_card_issued,
    3: _v3_reasons_suggestions_silent,
}
SCHEMA_VERSION = max(_STEPS)
_SCHEMA_LOCK = 0x7663_6663  # any constant shared by every worker: "vcfc"


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer release: this one must not write to it."""


def migrate_schema(connection: Connection) -> int:
    """Create or upgrade the schema inside the caller's transaction; the version reached."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
    version = _recorded_version(connection)
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the database schema is version {version}, this service knows up to "
            f"{SCHEMA_VERSION}: upgrade the service, never run an older one on it"
        )
    if version is None:
        metadata.create_all(connection, checkfirst=True)
    else:
        for step in range(version + 1, SCHEMA_VERSION + 1):
            _STEPS[step](connection)
        schema_version_table.create(connection, checkfirst=True)
    _record_version(connection, SCHEMA_VERSION)
    return SCHEMA_VERSION


def _recorded_version(connection: Connection) -> int | None:
    """None for an empty database; 1 for the first release's, which did not record one."""
    tables = set(sa.inspect(connection).get_table_names())
    if schema_version_table.name in tables:
        found = connection.execute(sa.select(schema_version_table.c.version)).scalar()
        if found is not None:
            return int(found)
    return 1 if feedback_table.name in tables else None


def _record_version(connection: Connection, version: int) -> None:
    updated = connection.execute(
        schema_version_table.update().where(schema_version_table.c.id == 1).values(version=version)
    ).rowcount
    if not updated:
        connection.execute(schema_version_table.insert().values(id=1, version=version))


def insert_unless_present(engine: Engine, table: sa.Table, row: dict, key: str) -> bool:
    """Insert `row` unless a row with the same `key` exists; True when it was inserted."""
    return insert_all_unless_present(engine, table, [row], key) == 1


def insert_all_unless_present(engine: Engine, table: sa.Table, rows: list[dict], key: str) -> int:
    """Insert, in one transaction, each row whose `key` is not there yet; the number inserted."""
    with engine.begin() as connection:
        return insert_new_rows(connection, table, rows, key)


def insert_new_rows(connection: Connection, table: sa.Table, rows: list[dict], key: str) -> int:
    """Insert, in the caller's transaction, each row whose `key` is not there yet; the number
    inserted."""
    return len(insert_new_keys(connection, table, rows, key))


def insert_new_keys(
    connection: Connection, table: sa.Table, rows: list[dict], key: str
) -> set[object]:
    """Insert, in the caller's transaction, each row whose `key` is not there yet; the keys
    inserted.

    SQLAlchemy's "insertmanyvalues" sends the rows as one multi-row INSERT (split only past
    the driver's parameter limit). A key repeated within `rows` is inserted once.
    """
    if not rows:
        return set()
    # RETURNING, not rowcount: psycopg 3 reports rowcount -1 for INSERT ... ON CONFLICT.
    statement = (
        _dialect_insert(connection.dialect.name)(table)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(table.c[key])
    )
    return set(connection.execute(statement, rows).scalars())


def _dialect_insert(dialect: str) -> Callable[[sa.Table], sa.Insert]:
    # Only the SQLite and PostgreSQL inserts have ON CONFLICT DO NOTHING.
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    return insert
