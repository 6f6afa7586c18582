"""Build step: ship db/migrations (the one source) and the built admin console in the package."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "db" / "migrations"
PACKAGED = Path("escrowgrid") / "db_migrations"  # escrowgrid.migrations looks here in a wheel
CONSOLE = HERE / "admin-console"
CONSOLE_PACKAGED = Path("escrowgrid") / "console_dist"  # escrowgrid.api.console_site reads it


def build_console() -> Path:
    """`npm ci && npm run build` in admin-console/: the console `escrowgrid serve` serves."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "building the admin console needs Node 20 and npm (admin-console/); install them, "
            "or set ESCROWGRID_SKIP_CONSOLE=1 to build without the console"
        )
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CONSOLE, check=True)  # noqa: S603
    subprocess.run([npm, "run", "build"], cwd=CONSOLE, check=True)  # noqa: S603
    return CONSOLE / "dist"


class BuildWithMigrations(build_py):
    """build_py that also ships the SQL migrations and the console as package data."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads db/migrations and admin-console/dist in place
        files = sorted(SOURCE.glob("*.sql"))
        if not files:
            raise SystemExit(f"no migrations in {SOURCE}: refusing to build a wheel without them")
        target = Path(self.build_lib) / PACKAGED
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for path in files:
            shutil.copy2(path, target / path.name)
        if (CONSOLE / "package.json").is_file() and os.environ.get(
            "ESCROWGRID_SKIP_CONSOLE"
        ) != "1":
            console = Path(self.build_lib) / CONSOLE_PACKAGED
            shutil.rmtree(console, ignore_errors=True)
            shutil.copytree(build_console(), console)


setup(cmdclass={"build_py": BuildWithMigrations})
