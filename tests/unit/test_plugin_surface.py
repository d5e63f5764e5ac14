"""The plugins keep to the documented surface: every name a plugin under
plugins/ or contrib/examples/ imports from husk is listed in docs/plugins.md's
"The plugin surface" table (imports inside functions count too)."""

from __future__ import annotations

import ast
import importlib
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PLUGINS_DOC = REPO / "docs" / "plugins.md"


def _surface() -> set[str]:
    """The names in the first column of the surface table."""
    text = PLUGINS_DOC.read_text()
    start = text.index("## The plugin surface")
    end = text.index("\n## ", start + 1)
    return set(re.findall(r"^\| `(husk[\w.*]*)` \|", text[start:end], re.MULTILINE))


def _packages() -> list[pathlib.Path]:
    """Each plugin's import package (a directory with an __init__.py, not its tests)."""
    roots = [*REPO.glob("plugins/*"), *REPO.glob("contrib/examples/*")]
    return sorted(init.parent for root in roots for init in root.glob("*/__init__.py")
                  if init.parent.name != "tests" and not init.parent.name.endswith(".egg-info"))


def _imported_names(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every husk name the file imports, anywhere in it."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module == "husk" or node.module.startswith("husk."):
                names += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names
                      if alias.name == "husk" or alias.name.startswith("husk.")]
    return names


def _allowed(name: str, surface: set[str]) -> bool:
    module = name.rsplit(".", 1)[0]
    return name in surface or f"{module}.*" in surface


def test_the_surface_is_listed():
    surface = _surface()
    assert {"husk.hooks.hookimpl", "husk.define.*", "husk.engine.monitor_client.launch_monitor"} <= surface


def test_every_listed_name_exists():
    for name in _surface():
        module_name, _, attribute = name.removesuffix(".*").rpartition(".")
        if name.endswith(".*"):
            importlib.import_module(name.removesuffix(".*"))
            continue
        module = importlib.import_module(module_name)
        if not hasattr(module, attribute):  # a submodule is imported, not an attribute yet
            importlib.import_module(name)


def test_plugins_are_found():
    names = {package.name for package in _packages()}
    assert {"husk_runc", "husk_crun", "husk_criu", "husk_netavark", "husk_example"} <= names


@pytest.mark.parametrize("package", _packages(), ids=lambda path: path.name)
def test_plugin_imports_only_the_surface(package, monkeypatch):
    monkeypatch.syspath_prepend(str(package.parent))  # contrib/examples are not installed in the test venv
    surface = _surface()
    wrong = [f"{path.relative_to(REPO)}:{line}: {name}"
             for path in sorted(package.rglob("*.py")) for line, name in _imported_names(path)
             if not _allowed(name, surface)]
    assert wrong == [], "imports from husk outside docs/plugins.md's surface:\n" + "\n".join(wrong)
    for path in sorted(package.rglob("*.py")):  # and each module imports
        relative = path.relative_to(package.parent).with_suffix("")
        importlib.import_module(".".join(relative.parts).removesuffix(".__init__"))
