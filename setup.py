"""Build step: copy db/migrations (the one source) into the package, so a wheel carries them."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "db" / "migrations"
PACKAGED = Path("escrowgrid") / "db_migrations"  # escrowgrid.migrations looks here in a wheel


class BuildWithMigrations(build_py):
    """build_py that also ships the SQL migrations as package data (sdist and checkout alike)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads db/migrations in place
        files = sorted(SOURCE.glob("*.sql"))
        if not files:
            raise SystemExit(f"no migrations in {SOURCE}: refusing to build a wheel without them")
        target = Path(self.build_lib) / PACKAGED
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for path in files:
            shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildWithMigrations})
