"""The package layout the issue tracker and readers rely on: paths are import names, and the
serving code stands on the shared library alone, never on the trainer."""

import ast
from pathlib import Path

import mlrelease

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_package_lives_at_tools_mlrelease():
    assert Path(mlrelease.__file__).resolve() == REPO / "tools" / "mlrelease" / "__init__.py"


def test_scoring_never_imports_training():
    offenders = {
        path.name: sorted(m for m in imported_modules(path) if m.split(".")[0] == "training")
        for path in (REPO / "scoring").rglob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_every_package_folder_is_a_regular_package():
    folders = {p.parent for p in (REPO / "tools" / "mlrelease").rglob("*.py")}
    assert all((folder / "__init__.py").exists() for folder in folders), sorted(folders)
