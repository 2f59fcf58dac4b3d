"""The service's one database: feedback records (and, with trusted issuers, seen JWT ids).

SQLite file by default, any SQLAlchemy URL (PostgreSQL in production) by `DATABASE_URL`.
SQLAlchemy Core is used rather than hand-written SQL so that the same statements, including
the race-free "insert unless already there", run on both back ends.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

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

seen_jwt_table = sa.Table(
    "seen_jwt",
    metadata,
    sa.Column("jti_hash", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.Integer, nullable=False, index=True),
)


def create_database_engine(url: str) -> Engine:
    """An engine whose schema exists; safe to call from several worker processes at once."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    _create_schema(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers and one writer work at once across gunicorn workers; busy_timeout
    # makes a second writer wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _create_schema(engine: Engine, attempts: int = 3) -> None:
    # Workers start together: another one may create a table between our check and create.
    for attempt in range(attempts):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise


def insert_unless_present(engine: Engine, table: sa.Table, row: dict, key: str) -> bool:
    """Insert `row` unless a row with the same `key` exists; True when it was inserted."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    statement = insert(table).values(**row).on_conflict_do_nothing(index_elements=[key])
    with engine.begin() as connection:
        return connection.execute(statement).rowcount == 1
