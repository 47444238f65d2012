"""A PostgreSQL server of the test's own, for the results database: ``initdb`` into a temporary folder, started with
``pg_ctl``, stopped and removed afterwards (nothing left behind).

The server refuses to run as root; as root it runs as the ``postgres`` user (``runuser``). It listens on a Unix socket
in its private folder and, with ``tcp=True``, on 127.0.0.1 at a free port too, where it asks for the password of
role ``rig`` (SCRAM; the socket trusts, only root and the server's user reach it): a lab's database seen over the
network. The Debian package ``postgresql`` brings the binaries (scripts/setup.sh installs it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SOCKET_PORT = 5432
"""With a Unix socket only, the port just names the socket file in the server's own folder: nothing to collide with."""
START_TIMEOUT_S = 60


class PgUnavailable(Exception):
    """No PostgreSQL server can be started here (the message says what is missing)."""


@dataclass(frozen=True)
class PgServer:
    """A running server: its socket folder, port, the password of role ``rig``, whether it listens on 127.0.0.1."""

    sock: Path
    port: int
    password: str
    tcp: bool
    log: Path

    def url(self, db: str = "postgres") -> str:
        """Database ``db`` over the server's Unix socket (trusted)."""
        return f"postgresql://rig@/{db}?host={self.sock}&port={self.port}"

    def tcp_url(self, db: str = "postgres") -> str:
        """Database ``db`` over 127.0.0.1, with the password (a server started with ``tcp=True``)."""
        assert self.tcp, "the server listens on its Unix socket only"
        return f"postgresql://rig:{self.password}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> None:
        """Create database ``name`` (owned by ``rig``)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


def pg_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (the newest Debian cluster version), or None."""
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg(prefix: list[str], *args: object, log: Path | None = None, check: bool = True) -> None:
    proc = subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        server_log = log.read_text() if log is not None and log.exists() else ""
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stdout}{proc.stderr}{server_log[-3000:]}")


@contextlib.contextmanager
def private_postgres(*, tcp: bool = False) -> Iterator[PgServer]:
    """Start a server of our own for the block (see the module's docstring).

    Raises:
        PgUnavailable: psycopg, the server binaries or (as root) the ``postgres`` user is missing.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PgUnavailable("psycopg is not installed (requirements.lock)") from None
    bindir = pg_bin()
    if bindir is None:
        raise PgUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not installed: `apt-get install postgresql` "
                            "(scripts/setup.sh does)")  # fmt: skip
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PgUnavailable("running as root and there is no 'postgres' user to run the server as") from None
        prefix = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="rig-pg-"))  # in /tmp: reachable by the postgres user
    data, sock, log = base / "data", base / "sock", base / "log"
    sock.mkdir()
    password = secrets.token_hex(12)
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if owner is not None:
        for p in (base, sock, pwfile):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    try:
        _pg(prefix, bindir / "initdb", "-D", data, "-U", "rig", "--auth-local=trust", "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8")  # fmt: skip
        pwfile.unlink()
        for attempt in range(5):  # a free port may be taken between the look and the server's bind: try another
            port = _free_port() if tcp else SOCKET_PORT
            listen = "127.0.0.1" if tcp else ""
            opts = f"-p {port} -k {sock} -c listen_addresses='{listen}' -c fsync=off -c max_connections=50"
            try:
                _pg(prefix, bindir / "pg_ctl", "-D", data, "-o", opts, "-w", "-t", START_TIMEOUT_S, "-l", log, "start",
                    log=log)  # fmt: skip
                break
            except RuntimeError:
                if not tcp or attempt == 4:
                    raise
        yield PgServer(sock, port, password, tcp, log)
    finally:
        if (data / "postmaster.pid").exists():
            _pg(prefix, bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)
