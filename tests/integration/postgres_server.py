"""A real PostgreSQL server for the tests: `PG_TEST_URL` if set, else a private throw-away cluster.

The private cluster is initdb'd in a temporary folder and listens on a free loopback port,
with its socket in that folder: it never touches a system cluster. PostgreSQL refuses to run
as root, so under root it runs as the `postgres` OS user that Debian's package creates.
Each test then gets a database of its own (`fresh_database`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from .processes import free_port

PG_TEST_URL = "PG_TEST_URL"  # e.g. postgresql+psycopg://user:pass@127.0.0.1:5432/postgres


# Debian's package of the server programs, named by every message about their absence.
INSTALL_HINT = "Debian: `apt-get install -y postgresql`"


class PostgresUnavailable(RuntimeError):
    pass


class PostgresNotInstalled(PostgresUnavailable):
    """This machine has no PostgreSQL server programs (and no PG_TEST_URL)."""


def missing_postgres() -> str | None:
    """Why the database tests cannot have a server here, or None when they can."""
    if os.environ.get(PG_TEST_URL):
        return None
    try:
        postgres_bin_dir()
        _server_user()
    except PostgresNotInstalled as missing:
        return str(missing)
    return None


def postgres_bin_dir() -> Path:
    """Debian installs the server programs under /usr/lib/postgresql/<major>/bin, off PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresNotInstalled(
        f"PostgreSQL server programs not found ({INSTALL_HINT}), or set {PG_TEST_URL} "
        "to a server the tests may create databases on"
    )


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a maintenance database on a running server."""
    configured = os.environ.get(PG_TEST_URL)
    if configured:
        yield configured
        return
    with _private_cluster() as url:
        yield url


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards; yields its URL."""
    name = f"vcf_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def _private_cluster() -> Iterator[str]:
    bin_dir = postgres_bin_dir()
    user = _server_user()
    # /tmp: the postgres user must reach it (a TMPDIR under /root it cannot), and the socket
    # path inside it must stay under the ~107 characters a Unix socket name allows.
    folder = Path(tempfile.mkdtemp(prefix="vcf-pg-", dir="/tmp"))
    data, log = folder / "data", folder / "server.log"
    port = free_port()
    try:
        if user is not None:
            shutil.chown(folder, user.pw_name, user.pw_gid)
        _run(user, [bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--no-sync", "--no-instructions"])  # fmt: skip
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(user, [bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start"])
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run(user, [bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _server_user() -> pwd.struct_passwd | None:
    """None: run as ourselves; under root, the `postgres` account."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresNotInstalled(
            "running as root and there is no `postgres` OS user to run the server as "
            f"({INSTALL_HINT} creates it)"
        ) from None


def _run(user: pwd.struct_passwd | None, command: list) -> None:
    as_user = (
        {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    )
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
        check=False,
        **as_user,
    )
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr[-2000:]}"
        )
