"""A throwaway PostgreSQL cluster, for the tests and the benchmark of the PostgreSQL journal.

``initdb`` in a temporary folder, ``postgres`` on 127.0.0.1 and a free port with password
authentication (so that every URL carries a password the journal must never show), then an
immediate stop and the folder removed. Durability is off (``fsync=off``): the cluster is thrown
away, and the tests are about claims and what is committed, not about the disk.

PostgreSQL refuses to run as root: run as root, the commands run as the ``postgres`` user
(``runuser``) and the folder is given to it; run as anyone else, they run as that user.
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

__all__ = ["Cluster", "bindir", "cluster", "missing"]

INSTALL = (
    "the PostgreSQL journal's tests need PostgreSQL's server programs (initdb, pg_ctl) on the "
    "PATH or in /usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql)"
)
SERVICE_USER = "postgres"
START_TIMEOUT = 30


def bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on the PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def missing() -> str | None:
    """Why a cluster cannot be started here (what to install), or None if it can."""
    if bindir() is None:
        return INSTALL
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"running as root, the tests need a {SERVICE_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root, the tests need runuser (util-linux) to run PostgreSQL"
    return None


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its superuser's password, its port and its folder."""

    password: str
    port: int
    folder: Path

    def url(self, database: str = "postgres") -> str:
        """The URL of one of its databases, password included."""
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    async def new_database(self) -> str:
        """Make a new, empty database; its URL."""
        import asyncpg  # noqa: PLC0415 -- the postgres extra, needed only with a cluster

        name = f"db_{secrets.token_hex(6)}"
        connection = await asyncpg.connect(self.url(), timeout=10)
        try:
            await connection.execute(f"CREATE DATABASE {name}")
        finally:
            await connection.close()
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a throwaway cluster; stop it and remove its folder on the way out.

    Raises:
        RuntimeError: the programs are missing (``missing()`` says what to install), or the
            server did not start (its log is in the message).
    """
    reason = missing()
    programs = bindir()
    if reason is not None or programs is None:
        raise RuntimeError(reason)
    folder = Path(tempfile.mkdtemp(prefix="gpcn-postgres-"))
    try:
        yield from _serve(programs, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _serve(programs: Path, folder: Path) -> Iterator[Cluster]:
    """Make the cluster in ``folder``, serve it until resumed, then stop it."""
    password = secrets.token_hex(12)
    (folder / "password").write_text(password)
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses root: its programs run as the service user
        user = pwd.getpwnam(SERVICE_USER)
        for path in (folder, folder / "password"):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", SERVICE_USER, "--"]
    data = folder / "data"

    def run(*command: str) -> None:
        done = subprocess.run(  # noqa: S603 -- PostgreSQL's own programs, arguments of ours
            [*prefix, *command], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = folder / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}\n{tail}")

    run(
        str(programs / "initdb"),
        *("-D", str(data), "-U", "postgres", "--pwfile", str(folder / "password")),
        *("--auth=scram-sha-256", "-E", "UTF8", "--no-sync"),
    )
    port = _free_port()
    options = (
        f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=60"
    )
    pg_ctl = str(programs / "pg_ctl")
    run(pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start")
    try:
        yield Cluster(password, port, folder)
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
