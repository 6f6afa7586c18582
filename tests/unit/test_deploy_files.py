"""The deployment files checked without a Docker engine: lint, compose schema, the seed layout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from escrowgrid.cli import _parser
from tests.support.deploy import (
    COMPOSE,
    DOCKERFILE,
    compose_defaults,
    dockerfile_stages,
    env_example,
    exec_form,
    load_compose,
)
from tests.support.server import REPO

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is missing: pip install -e '.[test]' installs it"
    return found


@pytest.mark.parametrize(
    "dockerfile", [DOCKERFILE, REPO / "admin-console" / "Dockerfile"], ids=["api", "console"]
)
def test_hadolint_passes(dockerfile: Path) -> None:
    if not dockerfile.exists():
        pytest.skip(f"{dockerfile.relative_to(REPO)} is not in this checkout")
    done = subprocess.run([_tool("hadolint"), str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    command = [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(command, capture_output=True, text=True)


def test_compose_file_matches_the_compose_specification() -> None:
    done = _schema_check(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_mistake(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("container_name: taas-api", "containr: taas-api"))
    assert _schema_check(broken).returncode != 0


def test_env_example_lists_every_variable_with_its_default() -> None:
    assert env_example() == compose_defaults()


def test_compose_lays_out_the_seed_stack() -> None:
    services = load_compose()["services"]
    db = services["db"]
    assert db["image"].startswith("postgres:16")
    assert db["container_name"] == "taas-db"
    assert db["ports"] == ["15432:5432"]
    assert db["environment"] == {
        "POSTGRES_DB": "taas_platform",
        "POSTGRES_USER": "taas_user",
        "POSTGRES_PASSWORD": "taas_pass",
    }
    check = db["healthcheck"]
    assert "pg_isready" in " ".join(check["test"])
    assert (check["interval"], check["timeout"], check["retries"]) == ("5s", "5s", 5)
    assert db["volumes"][0].split(":")[0] in load_compose()["volumes"]

    api = services["api"]
    assert api["container_name"] == "taas-api"
    assert api["ports"] == ["4000:4000"]
    assert load_compose({"API_PORT": "56888"})["services"]["api"]["ports"] == ["56888:4000"]
    assert api["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert "/health" in " ".join(api["healthcheck"]["test"])
    env = api["environment"]
    assert env["NODE_ENV"] == "production" and env["STORE_BACKEND"] == "postgres"
    assert env["DATABASE_URL"] == "postgres://taas_user:taas_pass@db:5432/taas_platform"
    assert (env["RATE_LIMIT_ENABLED"], env["RATE_LIMIT_WINDOW_MS"]) == ("true", "60000")
    assert env["RATE_LIMIT_MAX_REQUESTS"] == "1000" and env["ROOT_API_KEY"]
    assert env["PROJECTIONS_INLINE"] == "false"  # the projector service keeps the read models
    assert api["deploy"]["resources"]["limits"] == {"cpus": "0.5", "memory": "512M"}
    assert api["deploy"]["resources"]["reservations"] == {"cpus": "0.25", "memory": "256M"}

    assert services["migrate"]["command"] == ["db", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["projector"]["command"] == ["projections", "run"]
    admin = services["admin"]
    assert (admin["container_name"], admin["build"]) == ("taas-admin", "./admin-console")
    assert admin["ports"] == ["8080:80"]
    assert services["publisher"]["command"] == ["onchain", "run"]
    for name in ("publisher", "chain"):
        assert services[name]["profiles"] == ["onchain"]
    for name, service in services.items():
        assert "profiles" in service or name not in {"publisher", "chain"}


def test_every_role_is_a_command_of_the_one_image() -> None:
    services = load_compose()["services"]
    runtime = dockerfile_stages()["runtime"]
    assert exec_form(runtime.values("ENTRYPOINT")[-1]) == ["escrowgrid"]
    assert exec_form(runtime.values("CMD")[-1]) == ["serve"]
    parser = _parser()
    known = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for name in ("migrate", "api", "projector", "publisher"):
        service = services[name]
        assert service["image"] == services["api"]["image"] and service["build"] == "."
        if service["command"][0] not in known:
            assert service["command"][0] == "onchain", service  # written by the publisher work
            continue
        parser.parse_args(service["command"])


def test_runtime_stage_is_slim_non_root_and_checked() -> None:
    stages = dockerfile_stages()
    assert list(stages) == ["node", "builder", "runtime"]
    builder, runtime = stages["builder"], stages["runtime"]
    assert any("pip wheel" in run for run in builder.values("RUN"))
    assert any("admin-console" in copy for copy in builder.values("COPY"))
    assert runtime.base.startswith("python:") and "slim" in runtime.base
    user = runtime.values("USER")[-1]
    assert user.split(":")[0] not in {"0", "root"}
    assert "/health" in runtime.values("HEALTHCHECK")[-1]
    assert runtime.values("STOPSIGNAL") == ["SIGTERM"]
    text = " ".join(arg for _, arg in runtime.instructions)
    for tool in ("apt-get", "gcc", "build-essential", "npm", "node"):
        assert tool not in text.split(), tool
    copies = runtime.values("COPY")
    assert all(copy.startswith("--from=builder") for copy in copies), copies


def test_console_image_serves_port_80_as_a_non_root_user() -> None:
    admin = load_compose()["services"]["admin"]
    assert admin["ports"] == ["8080:80"]
    # Docker >= 20.10 sets it in every container; said here for engines that do not.
    assert admin["sysctls"] == {"net.ipv4.ip_unprivileged_port_start": 0}
    runtime = dockerfile_stages(REPO / "admin-console" / "Dockerfile")["runtime"]
    assert runtime.values("USER")[-1] not in {"0", "root"}
    assert runtime.values("EXPOSE") == ["80"]
    health = exec_form(runtime.values("HEALTHCHECK")[-1].split(" CMD ", 1)[1])
    assert health[-1] == "http://127.0.0.1:80/health", health
    conf = (REPO / "admin-console" / "nginx.conf").read_text()
    assert re.findall(r"^\s*listen\s+([^;]+);", conf, re.M) == ["80"]


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("**")] == "**"  # everything out, then what the build reads back in
    let_in = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        word.rstrip("/")
        for copy in dockerfile_stages()["builder"].values("COPY")
        if not copy.startswith("--from")
        for word in copy.split()[:-1]
    }
    assert copied <= let_in
    assert "**/node_modules" in lines


def test_deployment_doc_names_files_that_exist_and_every_variable() -> None:
    doc = (REPO / "docs" / "deployment.md").read_text()
    named = set(re.findall(r"`((?:db|deploy|tests|admin-console)/[\w./-]+|\.env\.example|"
                           r"Dockerfile|docker-compose\.yml|\.dockerignore)`", doc))  # fmt: skip
    missing = {p for p in named if not (REPO / p).exists() and not p.startswith("admin-console")}
    missing -= {"tests/e2e/test_admin_console_nginx.py"}  # arrives with the console
    assert not missing, missing
    for variable in env_example():
        assert f"`{variable}`" in doc, variable
    order = ["## 1. Build", "## 2. Start", "## 3. Verify", "## 4. Console", "## 5. Schema",
             "## 6. Checklist", "## 7. Production", "## 8. Backup", "## 9. Monitoring",
             "## 10. Troubleshooting"]  # fmt: skip
    assert [doc.index(h) for h in order] == sorted(doc.index(h) for h in order)
