"""A private PostgreSQL server for the tests, and a fresh database for each test.

`pg_server` (session scope) runs `initdb` and `pg_ctl` from PATH or from Debian's
/usr/lib/postgresql/VERSION/bin into a temporary directory: listening on 127.0.0.1 only, on a
free port, its socket in that directory, trust authentication (but for the `pw_user` role, which
needs its password, for the authentication test), fsync off. As root it runs as the `postgres`
user, since PostgreSQL refuses to run as root. It is stopped (`pg_ctl stop -m immediate`) and
its directory removed when the session ends. `pg_url` creates a database from template0 for one
test and drops it after.

Where a private mount namespace can be made, the server runs in one with a 8 MB tmpfs that the
`small` tablespace lives on: a database created there fills up (`pg_server.small_tablespace`,
None elsewhere).

Without the server's programs (or when it cannot start) the fixture fails under CI (CI set to
true, as CI services and .ci/run set it), saying to install them: there the store's tests run
against both backends, always. Elsewhere it skips the PostgreSQL half, saying why, so that a
checkout without PostgreSQL still runs the SQLite half.

    python tests/support/pg_server.py      # a server for a benchmark or by hand: prints its URL, stops on Enter
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.ci import unavailable

HOST = "127.0.0.1"
PW_USER, PW_PASSWORD = "pw_user", "the-right-password"
INSTALL = "apt-get install postgresql (Debian/Ubuntu), or put initdb and pg_ctl on PATH"


class PgServerError(RuntimeError):
    """The private server could not be made; the message is one line saying what to do."""


def find_bindir() -> Path:
    """The directory of initdb, pg_ctl and postgres: PATH first, then the newest Debian version."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                      key=lambda p: [int(v) for v in re.findall(r"\d+", p)])
    if versions:
        return Path(versions[-1]).parent
    raise PgServerError(f"The tests need a PostgreSQL server's programs (initdb, pg_ctl), found on "
                        f"neither PATH nor /usr/lib/postgresql/*/bin; {INSTALL}.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class PgServer:
    """A running private server (see the module docstring)."""

    def __init__(self, bindir: Path | None = None):
        self.bindir = bindir or find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
        self.data, self.sockets, self.log = self.root / "data", self.root / "sockets", self.root / "server.log"
        self.small = self.root / "small"
        self.small_tablespace: str | None = None
        self.port = 0
        self._prefix: list[str] = []  # what the server starts inside (its mount namespace)
        self._runas: list[str] = []
        self._owner: tuple[int, int] | None = None
        try:
            self._prepare()
            self._start()
            self._setup()
        except BaseException:
            self.stop()
            raise

    # --- making it ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise PgServerError("PostgreSQL refuses to run as root and there is no `postgres` "
                                    f"user to run it as; {INSTALL}.") from None
            self._owner = (user.pw_uid, user.pw_gid)
            self._runas = ["runuser", "-u", "postgres", "--"]
        for d in (self.sockets, self.small):
            d.mkdir()
        if self._owner:
            for d in (self.root, self.sockets, self.small):
                os.chown(d, *self._owner)
        self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        (self.data / "pg_hba.conf").write_text(
            f"host all {PW_USER} {HOST}/32 scram-sha-256\n"
            f"host all all {HOST}/32 trust\n"
            "local all all trust\n")

    def _run(self, argv: list[str], prefix: list[str] = ()) -> subprocess.CompletedProcess:
        done = subprocess.run([*prefix, *self._runas, *argv], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise PgServerError(f"`{' '.join(argv[:2])} ...` failed: "
                                f"{(done.stderr or done.stdout).strip()[-1500:]}")
        return done

    def _namespace(self) -> list[str]:
        """A private mount namespace with a small tmpfs on `self.small`, or [] where none can be made."""
        if os.geteuid() == 0:
            unshare = ["unshare", "--mount", "--propagation", "private"]
            uid, gid = self._owner
        else:
            unshare = ["unshare", "--user", f"--map-user={os.getuid()}", f"--map-group={os.getgid()}",
                       "--keep-caps", "--mount", "--propagation", "private"]
            uid, gid = os.getuid(), os.getgid()
        mount = ["sh", "-c", f'mount -t tmpfs -o size=8m,mode=0700,uid={uid},gid={gid} tmpfs "$0" '
                             '&& exec "$@"', str(self.small)]
        probe = subprocess.run([*unshare, *mount, "true"], capture_output=True, check=False)
        return [*unshare, *mount] if probe.returncode == 0 else []

    def _options(self) -> str:
        return (f"-c listen_addresses={HOST} -c port={self.port} "
                f"-c unix_socket_directories={self.sockets} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")

    def _start(self) -> None:
        namespace = self._namespace()
        self._prefix = namespace
        for attempt in range(5):
            self.port = free_port()
            try:
                self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                           "-w", "-t", "60", "-o", self._options(), "start"], prefix=namespace)
                break
            except PgServerError:
                taken = "could not bind" in self.log.read_text(errors="replace")
                if not taken or attempt == 4:  # another process took the port first: another one
                    raise PgServerError(f"the private PostgreSQL server did not start: "
                                        f"{self.log.read_text(errors='replace').strip()[-1500:]}") from None
        self.small_tablespace = "small" if namespace else None

    def _setup(self) -> None:
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {PW_USER} LOGIN PASSWORD '{PW_PASSWORD}'")
            if self.small_tablespace:
                conn.execute(f"CREATE TABLESPACE small LOCATION '{self.small}'")

    # --- using it ----------------------------------------------------------------------------

    def url(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@{HOST}:{self.port}/{dbname}"

    def admin(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=10)

    def create_database(self, tablespace: str | None = None) -> str:
        """A new, empty database; returns its URL."""
        name = "t_" + secrets.token_hex(6)
        where = f" TABLESPACE {tablespace}" if tablespace else ""
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0{where}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def restart(self, down_s: float = 0.3) -> None:
        """Stop the server as an admin's restart does (`pg_ctl stop -m fast`: every session is
        ended) and start it again after `down_s`, on the same port and data directory. (A
        server with a small tablespace gets a fresh, empty one: restart a server of its own.)"""
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run([pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"])
        time.sleep(down_s)
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                   self._options(), "start"], prefix=self._prefix)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self._runas, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    try:
        server, problem = PgServer(), None
    except PgServerError as exc:
        problem = str(exc)
    if problem:
        unavailable(f"no private PostgreSQL: {problem}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a new, empty database on the private server, dropped after the test."""
    url = pg_server.create_database()
    yield url
    with contextlib.suppress(Exception):  # a test that stopped or broke the server has said so
        pg_server.drop_database(url)


if __name__ == "__main__":
    server = PgServer()
    try:
        print(server.create_database(), flush=True)
        print(f"(server log {server.log}; press Enter to stop it)", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            input()
    finally:
        server.stop()
        time.sleep(0)
