"""The apps depend one way: `scheduling` and `demo` build on `sessions_app`, never the reverse."""

import ast
from pathlib import Path

import sessions_app

SESSIONS_APP = Path(sessions_app.__file__).parent
BUILT_ON_IT = ("scheduling", "demo")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (functions included)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # A relative import (`from . import x`) stays inside the package.
            modules.add(node.module)
    return modules


def test_no_module_of_sessions_app_imports_an_app_built_on_it():
    offenders = {
        f"{path.relative_to(SESSIONS_APP.parent)}: {module}"
        for path in sorted(SESSIONS_APP.rglob("*.py"))
        for module in imported_modules(path)
        if module.split(".")[0] in BUILT_ON_IT
    }

    assert offenders == set()


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from scheduling.models import Workshop\n    return Workshop\n")

    assert "scheduling.models" in imported_modules(module)
