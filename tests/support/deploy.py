"""Read the deployment files as docker compose and docker build would: interpolation, stages."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.server import REPO

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}: the forms compose interpolates.
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def compose_defaults() -> dict[str, str]:
    """Each variable the compose file interpolates, with its default ('' for none)."""
    found: dict[str, str] = {}
    for name, op, default in _VAR.findall(COMPOSE.read_text()):
        found[name] = default if op in {":-", "-"} else ""
    return found


def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file with variables substituted from env (empty: every default)."""
    env = env or {}

    def sub(match: re.Match[str]) -> str:
        name, op, default = match.groups()
        value = env.get(name)
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        return value or ""

    loaded: dict[str, Any] = yaml.safe_load(_VAR.sub(sub, COMPOSE.read_text()))
    return loaded


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, keyword: str) -> list[str]:
        return [arg for key, arg in self.instructions if key == keyword]


def dockerfile_stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    """The Dockerfile's stages by name, each its (INSTRUCTION, arguments) in order."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(stages))
            current = stages[name] = Stage(name, parts[0])
        elif current is not None:
            current.instructions.append((keyword, " ".join(rest.split())))
    return stages


def exec_form(argument: str) -> list[str]:
    """ENTRYPOINT/CMD arguments: the JSON array form, or shell words."""
    if argument.startswith("["):
        loaded: list[str] = yaml.safe_load(argument)
        return loaded
    return shlex.split(argument)
