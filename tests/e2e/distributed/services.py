"""Real PostgreSQL and Redis servers for the distributed tests (engine-neutral, stdlib only).

Each server runs in a fresh temp folder on a free loopback port, in a process group of its own,
and is stopped by its PID: by the fixture's ``finally`` (also on Ctrl-C and failing tests), by an
``atexit`` hook if the fixture never got there, and by the kernel (``PR_SET_PDEATHSIG``) if the
test process is killed outright. ``scripts/setup-services.sh`` installs the binaries and creates
the unprivileged user PostgreSQL runs as (it refuses to run as root).

Use as context managers or as the session fixtures ``postgres_server`` / ``redis_server``
(``pytest_plugins = ["services"]``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import ClassVar, TypeVar

import pytest

#: The unprivileged user PostgreSQL runs as (created by ``scripts/setup-services.sh``).
SERVICE_USER = os.environ.get("CYBERDESK_TEST_SERVICE_USER", "cyberdesk-test")
#: Superuser of the test cluster (trust authentication on loopback; no password exists).
PG_SUPERUSER = "postgres"
#: Field separator of :meth:`PostgresServer.psql` output (ASCII unit separator: not in text).
FIELD_SEPARATOR = "\x1f"
READY_TIMEOUT = 60.0
STOP_GRACE = 15.0
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin(name: str) -> Path:
    """Path of a PostgreSQL program, from the same installation as ``postgres``.

    Debian keeps the server programs in ``/usr/lib/postgresql/<major>/bin``, off the ``PATH``;
    the newest major version found there wins.
    """
    found = shutil.which("postgres")
    folders = [Path(found).resolve().parent] if found else []
    majors = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in [*folders, *majors]:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"PostgreSQL program {name!r} not found: run scripts/setup-services.sh")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec, after the user switch (which would clear it).
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _run_as() -> str | None:
    """The user to run a server as: the service user when running as root, else ourselves."""
    if os.geteuid() != 0:
        return None
    for name in (SERVICE_USER, "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError(f"no user {SERVICE_USER!r}: run scripts/setup-services.sh")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class _Server:
    """A server process in a temp folder: start, wait ready, stop by PID."""

    name: ClassVar[str] = "server"
    #: Signal asking for a clean, quick shutdown.
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    _live: ClassVar[set[_Server]] = set()

    def __init__(self) -> None:
        self.port = free_port()
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix=f"cyberdesk-{self.name}-"))
        self.log_path = self.root / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """PID of the server process (also its process group id)."""
        assert self.process is not None, f"{self.name} not started"
        return self.process.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Work before the server starts (e.g. create the data folder)."""

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        """Start the server and wait until it answers; fail with its log tail if it does not."""
        self.prepare()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                user=self.user,
                start_new_session=True,
                # Only sets a signal in the child: no locks, so safe beside threads.
                preexec_fn=_die_with_parent,
            )
        _Server._live.add(self)
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server: its shutdown signal, SIGKILL to the group after a grace period."""
        _Server._live.discard(self)
        if self.process is not None:
            if self.process.poll() is None:
                _signal_group(self.process.pid, self.stop_signal)
                try:
                    self.process.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    _signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
            # Children outlive a killed leader only in theory; make sure of it.
            _signal_group(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def running(self) -> bool:
        """The server process is alive."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @classmethod
    def stop_all(cls) -> None:
        """Stop every server still running (``atexit``: a fixture that never reached teardown)."""
        for server in list(cls._live):
            server.stop()


atexit.register(_Server.stop_all)
ServerT = TypeVar("ServerT", bound=_Server)


class PostgresServer(_Server):
    """A PostgreSQL cluster: trust auth on 127.0.0.1, unix socket in its temp folder.

    Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the data lives
    for one test session.
    """

    name = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, exit at once.
    stop_signal = signal.SIGINT

    def __init__(self, max_connections: int = 200) -> None:
        super().__init__()
        self.max_connections = max_connections
        self.data = self.root / "data"

    def prepare(self) -> None:
        result = subprocess.run(
            [
                str(postgres_bin("initdb")),
                "-D",
                str(self.data),
                "-U",
                PG_SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            cwd=self.root,
            user=self.user,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def command(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "max_connections": str(self.max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [str(postgres_bin("postgres")), "-D", str(self.data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        return args

    def ready(self) -> bool:
        probe = [
            str(postgres_bin("pg_isready")),
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", PG_SUPERUSER),
        ]
        return subprocess.run(probe, capture_output=True, timeout=10, check=False).returncode == 0

    def url(self, database: str, scheme: str = "postgresql") -> str:
        """Connection URL of ``database`` (e.g. ``scheme="postgresql+psycopg2"``)."""
        return f"{scheme}://{PG_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _client(self, program: str, database: str, *args: str, stdin: str | None = None) -> str:
        command = [
            str(postgres_bin(program)),
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", PG_SUPERUSER),
            *args,
            database,
        ]
        result = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout

    def psql(self, sql: str, database: str = "postgres", **variables: str) -> str:
        """Run SQL with ``psql``; returns unaligned, tuples-only output, one row per line and
        fields separated by :data:`FIELD_SEPARATOR`.

        ``variables`` are psql variables: write ``:'name'`` in ``sql`` for a quoted literal.
        """
        options = ["-X", "-A", "-t", "-F", FIELD_SEPARATOR, "-v", "ON_ERROR_STOP=1", "-f", "-"]
        for name, value in variables.items():
            options += ["-v", f"{name}={value}"]
        return self._client("psql", database, *options, stdin=sql)

    def create_database(self, database: str) -> None:
        """``CREATE DATABASE`` (the name is quoted as an identifier)."""
        quoted = '"' + database.replace('"', '""') + '"'
        self.psql(f"CREATE DATABASE {quoted}")

    def dump(self, database: str) -> str:
        """``pg_dump`` of every schema and table of ``database`` as SQL text."""
        return self._client("pg_dump", database, "--no-owner", "--no-privileges")


class RedisServer(_Server):
    """A Redis server on 127.0.0.1 without persistence (no RDB snapshots, no AOF)."""

    name = "redis"

    def command(self) -> list[str]:
        redis = shutil.which("redis-server")
        if redis is None:
            raise FileNotFoundError("redis-server not found: run scripts/setup-services.sh")
        return [
            redis,
            *("--bind", "127.0.0.1", "--port", str(self.port), "--protected-mode", "yes"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.root)),
            *("--daemonize", "no", "--logfile", ""),
        ]

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def url(self, db: int = 0) -> str:
        """``redis://`` URL of logical database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"


def serving(server: ServerT) -> Iterator[ServerT]:
    """Fixture body: start ``server``, yield it, stop it whatever happened, check it is gone."""
    try:
        server.start()
        yield server
    finally:
        server.stop()
    assert not server.running()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the session; stopped (and its folder removed) afterwards."""
    yield from serving(PostgresServer())


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the session; stopped (and its folder removed) afterwards."""
    yield from serving(RedisServer())
