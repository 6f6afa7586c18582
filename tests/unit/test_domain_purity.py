"""The domain package imports only the standard library, eventsourcing.domain and itself."""

import ast
import sys
from pathlib import Path

import escrowgrid.domain

DOMAIN_DIR = Path(escrowgrid.domain.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: use absolute imports"
            assert node.module is not None
            names.add(node.module)
    return names


def is_allowed(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    return (
        top in sys.stdlib_module_names
        or module == "eventsourcing.domain"
        or module == "escrowgrid.domain"
        or module.startswith("escrowgrid.domain.")
    )


def test_domain_has_no_outside_imports() -> None:
    sources = sorted(DOMAIN_DIR.glob("*.py"))
    assert len(sources) > 10
    for path in sources:
        outside = {m for m in imported_modules(path) if not is_allowed(m)}
        assert not outside, f"{path.name} imports {outside}"


def test_the_import_contract_names_every_package_of_ours() -> None:
    """The linter's domain contract forbids each of our other packages by name, new ones too."""
    import tomllib

    pyproject = tomllib.loads((DOMAIN_DIR.parents[1] / "pyproject.toml").read_text())
    contracts = pyproject["tool"]["importlinter"]["contracts"]
    domain = next(c for c in contracts if c["source_modules"] == ["escrowgrid.domain"])
    ours = {
        f"escrowgrid.{p.stem}"
        for p in DOMAIN_DIR.parent.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    } - {"escrowgrid.domain"}
    assert ours | {"projections"} <= set(domain["forbidden_modules"])
