"""The compose stack run outside containers: the wheel built by the Dockerfile's builder steps,
installed as its runtime stage installs it, each service started with the compose file's
command and environment. Only host names, ports and folders are mapped onto this machine."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from escrowgrid.embedded_pg import EmbeddedPostgres
from tests.support.cluster import FAST_SETTINGS, scratch_dir
from tests.support.deploy import Stage, dockerfile_stages, exec_form, load_compose
from tests.support.server import REPO, free_port

# What .dockerignore keeps out of the context.
_NOT_CONTEXT = (
    "node_modules",
    "__pycache__",
    "dist",
    "*.egg-info",
    "db_migrations",
    "console_dist",
)


def _port_or_free(wanted: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", wanted))
        except OSError:
            return free_port()
    return wanted


class PathMap:
    """Container paths onto folders here, longest first (/tmp/wheels before /wheels)."""

    def __init__(self, mapping: Mapping[str, Path]) -> None:
        self.mapping = sorted(mapping.items(), key=lambda kv: -len(kv[0]))

    def __call__(self, text: str) -> str:
        for container, here in self.mapping:
            text = re.sub(rf"(?<![\w/]){re.escape(container)}(?=/|\s|$|\*)", str(here), text)
        return text


def _run_stage(stage: Stage, paths: PathMap, pip: str, skipped: list[str]) -> None:
    workdir = Path(paths("/"))
    for keyword, arg in stage.instructions:
        if keyword == "WORKDIR":
            workdir = Path(paths(arg))
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY" and not arg.startswith("--from"):
            *sources, dest = arg.split()
            target = workdir / dest if not dest.startswith("/") else Path(paths(dest))
            for source in sources:
                path = REPO / source
                if not path.exists():
                    skipped.append(source)  # e.g. admin-console/ before the console branch
                elif path.is_dir():  # Docker copies a folder's contents into dest
                    ignore = shutil.ignore_patterns(*_NOT_CONTEXT)
                    shutil.copytree(path, target, dirs_exist_ok=True, ignore=ignore)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.name)
        elif keyword == "RUN":
            if arg.startswith("ln -s") and "npm" in arg:
                continue  # node and npm are this machine's own
            command = re.sub(r"(^|&& )pip ", rf"\1{pip} ", paths(arg))
            done = subprocess.run(
                ["/bin/sh", "-c", command], cwd=workdir, capture_output=True, text=True
            )
            assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])


@dataclass
class Image:
    """The image built here: a venv and the runtime stage's ENV, ENTRYPOINT, WORKDIR."""

    venv: Path
    wheels: Path  # the builder stage's: the project's wheel and every dependency's
    env: dict[str, str]
    entrypoint: list[str]
    workdir: str
    skipped: list[str] = field(default_factory=list)


def build_image(root: Path) -> Image:
    stages = dockerfile_stages()
    paths = PathMap({"/src": root / "src", "/wheels": root / "wheels",
                     "/tmp/wheels": root / "wheels", "/": root / "fs"})  # fmt: skip
    skipped: list[str] = []
    _run_stage(stages["builder"], paths, f"{sys.executable} -m pip", skipped)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    runtime = stages["runtime"]
    for arg in runtime.values("RUN"):
        if arg.startswith("pip "):
            command = re.sub(r"(^|&& )pip ", rf"\1{venv}/bin/python -m pip ", paths(arg))
            command = command.split(" && rm ")[0]  # keep the wheels for the next build
            done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True)
            assert done.returncode == 0, (command, done.stderr[-3000:])
    env: dict[str, str] = {}
    for arg in runtime.values("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", arg):
            env[key] = value
    return Image(venv, root / "wheels", env, exec_form(runtime.values("ENTRYPOINT")[-1]),
                 runtime.values("WORKDIR")[-1], skipped)  # fmt: skip


class _TcpPostgres(EmbeddedPostgres):
    """The embedded cluster on a TCP port too: its socket file carries that port."""

    port = 5432

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return f"{super().admin_dsn(dbname)}&port={self.port}"


class Database:
    """The `db` service: a PostgreSQL on TCP with the compose file's user, password, database."""

    def __init__(self, service: dict[str, Any]) -> None:
        self.env = service["environment"]
        self.port = _port_or_free(int(service["ports"][0].split(":")[0]))
        self.pg = _TcpPostgres(
            scratch_dir("escrowgrid-stack-"),
            settings={**FAST_SETTINGS, "listen_addresses": "'127.0.0.1'", "port": str(self.port)},
        )
        self.pg.port = self.port

    def start(self) -> Database:
        self.pg.init()
        hba = self.pg.pgdata / "pg_hba.conf"
        hba.write_text("host all all 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self.pg.start()
        user, password, db = (self.env[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD",
                                                    "POSTGRES_DB"))  # fmt: skip
        import psycopg

        with psycopg.connect(self.pg.admin_dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
            conn.execute(f"CREATE DATABASE {db} OWNER {user}")
        return self

    def url(self, host: str = "localhost") -> str:
        env = self.env
        return (f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@{host}:"
                f"{self.port}/{env['POSTGRES_DB']}")  # fmt: skip

    def stop(self) -> None:
        self.pg.destroy()


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Stack:
    """compose up, minus containers: db healthy, migrate completed, then api and projector."""

    def __init__(self, root: Path, image: Image, dotenv: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.image = image
        self.api_port = free_port()
        self.compose = load_compose({**(dotenv or {}), "API_PORT": str(self.api_port)})
        self.db = Database(self.compose["services"]["db"])
        self.services: dict[str, Service] = {}

    def environment(self, name: str) -> dict[str, str]:
        """Image ENV, then the service's environment; db:5432 and the data folder mapped."""
        folder = self.root / name
        folder.mkdir(exist_ok=True)
        paths = PathMap({self.image.env["ESCROWGRID_DATA_DIR"]: folder / "data"})
        env = {"PATH": f"{self.image.venv}/bin:/usr/bin:/bin", "HOME": str(folder)}
        env |= {k: paths(v) for k, v in self.image.env.items()}
        service = self.compose["services"][name]
        for key, value in service["environment"].items():
            env[key] = str(value).replace("@db:5432/", f"@127.0.0.1:{self.db.port}/")
        if name == "api":
            env["PORT"] = str(self.api_port)  # the host side of "${API_PORT}:4000"
        return env

    def argv(self, name: str) -> list[str]:
        entry = self.image.entrypoint
        return [str(self.image.venv / "bin" / entry[0]), *entry[1:],
                *self.compose["services"][name]["command"]]  # fmt: skip

    def start_service(self, name: str) -> Service:
        env = self.environment(name)
        cwd = Path(env["ESCROWGRID_DATA_DIR"])
        cwd.mkdir(parents=True, exist_ok=True)
        log = self.root / name / "output.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(self.argv(name), env=env, cwd=cwd, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.services[name] = service = Service(name, proc, log)
        return service

    def healthcheck(self, name: str) -> subprocess.CompletedProcess[str]:
        """The service's compose health check command, run here."""
        test = self.compose["services"][name]["healthcheck"]["test"]
        env = self.environment(name)
        if name == "db":
            env |= {"PGHOST": "127.0.0.1", "PGPORT": str(self.db.port),
                    "PGPASSWORD": self.db.env["POSTGRES_PASSWORD"],
                    "PATH": f"{self.db.pg._bin}:{env['PATH']}"}  # fmt: skip
        if test[0] == "CMD-SHELL":
            argv = ["/bin/sh", "-c", test[1]]
        else:
            argv = [
                str(a).replace("127.0.0.1:4000", f"127.0.0.1:{self.api_port}") for a in test[1:]
            ]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)

    def up(self) -> Stack:
        self.db.start()
        check = self.healthcheck("db")  # depends_on: db: condition: service_healthy
        assert check.returncode == 0, check.stdout + check.stderr
        migrate = self.start_service("migrate")  # service_completed_successfully
        assert migrate.proc.wait(180) == 0, migrate.output()
        self.start_service("projector")
        self.start_service("api")
        self.wait_healthy()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        api = self.services["api"]
        while time.monotonic() < deadline:
            assert api.proc.poll() is None, api.output()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"api not healthy in {timeout}s:\n{api.output()}")

    def down(self) -> None:
        for service in self.services.values():
            if service.proc.poll() is None:
                os.killpg(service.proc.pid, 9)
                service.proc.wait()
        self.db.stop()
