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
    return missing_server_programs()


def missing_server_programs() -> str | None:
    """Why this machine cannot start a private cluster (`private_cluster`), or None."""
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
    # No pool: a connection kept from the CREATE would be dead if a test restarted the server.
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


class PrivateCluster:
    """A throw-away cluster in a folder of its own that a test may stop and start again
    (the same data, port and URL), to see what the service does while its database is gone."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        self._bin_dir, self._user = postgres_bin_dir(), _server_user()
        self._data = folder / "data"

    def init(self) -> None:
        if self._user is not None:
            shutil.chown(self.folder, self._user.pw_name, self._user.pw_gid)
        initdb = [self._bin_dir / "initdb", "-D", self._data, "-U", "postgres", "-A", "trust"]
        _run(self._user, [*initdb, "-E", "UTF8", "--no-sync", "--no-instructions"])

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.folder / "server.log"
        pg_ctl = [self._bin_dir / "pg_ctl", "-D", self._data]
        _run(self._user, [*pg_ctl, "-l", log, "-o", options, "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash (the
        server recovers from its WAL when started again)."""
        _run(self._user, [self._bin_dir / "pg_ctl", "-D", self._data, "-m", mode, "-w", "stop"])


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A running private cluster, stopped and removed afterwards (needs the server programs,
    whatever PG_TEST_URL says: a shared server is not the tests' to stop)."""
    # /tmp: the postgres user must reach it (a TMPDIR under /root it cannot), and the socket
    # path inside it must stay under the ~107 characters a Unix socket name allows.
    folder = Path(tempfile.mkdtemp(prefix="vcf-pg-", dir="/tmp"))
    try:
        cluster = PrivateCluster(folder, free_port())
        cluster.init()
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(PostgresUnavailable):  # already stopped by the test
                cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _private_cluster() -> Iterator[str]:
    with private_cluster() as cluster:
        yield cluster.url


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
