"""The dependency arrows of DESIGN.md, checked on the source."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_config_jobs_imports_tasks():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "site").rglob("*.py")
        if path != ROOT / "site" / "config" / "jobs.py"
        and any(m == "tasks" or m.startswith("tasks.") for m in imported_modules(path))
    ]
    assert offenders == []


def test_guides_know_nothing_of_contacts_or_mail():
    forbidden = ("contacts", "mailings", "ebooks", "campaigns")
    for path in (ROOT / "site" / "guides").rglob("*.py"):
        assert not any(m.split(".")[0] in forbidden for m in imported_modules(path)), path


def test_site_is_a_source_root_not_a_package():
    assert not (ROOT / "site" / "__init__.py").exists()
    assert not list((ROOT / "site").glob("*.py"))


def test_mailings_knows_no_app_that_uses_it():
    """contacts, ebooks and campaigns use mailings; consent reaches it through a registry
    (mailings.consent), never an import or apps.get_model."""
    forbidden = ("contacts", "ebooks", "campaigns", "analytics", "accounts")
    for path in (ROOT / "site" / "mailings").rglob("*.py"):
        assert not any(m.split(".")[0] in forbidden for m in imported_modules(path)), path
        assert "get_model" not in path.read_text(), path
