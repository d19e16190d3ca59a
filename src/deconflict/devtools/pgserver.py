"""A throw-away PostgreSQL 15 + PostGIS server for tests and benchmarks.

:func:`local_postgres` runs ``initdb`` into a fresh temporary directory, starts the
server listening only on 127.0.0.1 (on a free port, with its Unix socket inside that
directory), creates a database with the ``postgis`` extension, yields a psycopg 3
conninfo string, and on exit stops the server and deletes everything::

    with local_postgres() as dsn:
        with psycopg.connect(dsn) as conn:
            ...

PostgreSQL refuses to run as root; when the caller is root, the directory is handed to
the ``postgres`` system user and ``initdb``/``pg_ctl`` run as that user.  The cluster is
for throw-away data only: authentication is ``trust`` (on 127.0.0.1 only) and
durability is switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``).

The binaries are looked up in ``$DECONFLICT_PG_BIN``, then ``pg_config --bindir``'s
answer, then ``/usr/lib/postgresql/15/bin``, then ``$PATH``.  When they (or PostGIS) are
missing, :class:`PostgresUnavailableError` says what to install.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = ["DEFAULT_SETTINGS", "PostgresUnavailableError", "local_postgres"]

_INSTALL_HINT = (
    "install PostgreSQL 15 and PostGIS 3: apt-get install postgresql-15 postgresql-15-postgis-3 "
    "(or set DECONFLICT_PG_BIN to the directory holding initdb and pg_ctl)"
)

#: Server settings for a throw-away cluster (durability off; sized for a benchmark).
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "4GB",
    "jit": "off",
}


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL binaries or the PostGIS extension are not installed, or the server
    could not be started."""


@dataclass(frozen=True, slots=True)
class _RunAs:
    uid: int | None
    gid: int | None

    @property
    def switches(self) -> bool:
        return self.uid is not None


def _candidates() -> Iterator[Path]:
    env = os.environ.get("DECONFLICT_PG_BIN")
    if env:
        yield Path(env)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10)
            yield Path(out.stdout.strip())
    yield Path("/usr/lib/postgresql/15/bin")
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(initdb).parent


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    for path in _candidates():
        if all(os.access(path / b, os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return path
    raise PostgresUnavailableError(f"PostgreSQL server binaries (initdb, pg_ctl) not found; {_INSTALL_HINT}")


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs(None, None)
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            f"running as root, but there is no 'postgres' system user to run the server as; {_INSTALL_HINT}"
        ) from None
    return _RunAs(user.pw_uid, user.pw_gid)


def _reachable(path: Path, who: _RunAs) -> bool:
    """Can ``who`` traverse every directory down to ``path`` (judged from mode bits)?"""
    if not who.switches:
        return True
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid == who.uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == who.gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(cmd: list[str], who: _RunAs, cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        user=who.uid,
        group=who.gid,
        extra_groups=[] if who.switches else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _check(result: subprocess.CompletedProcess[str], what: str, log: Path | None = None) -> None:
    if result.returncode == 0:
        return
    detail = (result.stderr or result.stdout).strip()
    if log is not None and log.exists():
        detail += "\n--- server log ---\n" + log.read_text(errors="replace")[-4000:]
    raise PostgresUnavailableError(f"{what} failed (exit {result.returncode}): {detail}")


@contextlib.contextmanager
def local_postgres(
    workdir: Path | None = None,
    *,
    settings: Mapping[str, str] | None = None,
    dbname: str = "deconflict",
) -> Iterator[str]:
    """Start a throw-away PostgreSQL server with PostGIS; yield its psycopg conninfo.

    The cluster lives in a new temporary directory under ``workdir`` (the system's
    temporary directory by default, and also when running as root and the ``postgres``
    user could not reach ``workdir``).  ``settings`` override :data:`DEFAULT_SETTINGS`.
    Everything is stopped and deleted on exit, also after an error.
    """
    bindir = find_bindir()
    who = _run_as()
    parent = Path(workdir) if workdir is not None else Path(tempfile.gettempdir())
    if not _reachable(parent, who):
        parent = Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="deconflict-pg-", dir=parent))
    started = False
    data = root / "data"
    log = root / "server.log"
    try:
        if who.switches:
            assert who.uid is not None and who.gid is not None
            os.chown(root, who.uid, who.gid)
        _check(
            _run(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"],
                who,
                root,
            ),
            "initdb",
        )
        options = {**DEFAULT_SETTINGS, **(settings or {})}
        port = 0
        for attempt in range(3):
            port = _free_port()
            opts = ["-c listen_addresses=127.0.0.1", f"-p {port}", "-c unix_socket_directories=''"]
            opts += [f"-c {k}={v}" for k, v in options.items()]
            result = _run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    " ".join(opts),
                    "start",
                ],
                who,
                root,
            )
            if result.returncode == 0:
                started = True
                break
            if attempt == 2:  # the port may have been taken meanwhile: retry, then give up
                _check(result, "pg_ctl start", log)
        base = make_conninfo(host="127.0.0.1", port=port, user="postgres", connect_timeout=10)
        with psycopg.connect(make_conninfo(base, dbname="postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        dsn = make_conninfo(base, dbname=dbname)
        with psycopg.connect(dsn, autocommit=True) as conn:
            try:
                conn.execute("CREATE EXTENSION postgis")
            except psycopg.errors.FeatureNotSupported as e:
                raise PostgresUnavailableError(f"the postgis extension is not installed ({e}); {_INSTALL_HINT}") from e
            except psycopg.errors.UndefinedFile as e:
                raise PostgresUnavailableError(f"the postgis extension is not installed ({e}); {_INSTALL_HINT}") from e
        yield dsn
    finally:
        if started:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], who, root, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
