"""Meta-tests that keep the plugin surface honest (datasette's idea).

1. Every hookspec in husk.hooks.spec has a section in docs/plugins.md whose
   signature lists exactly the spec's arguments, and no section documents a
   hook that does not exist.
2. Every hookspec has a test named after it, in a test module that implements
   the hook (a probe plugin), so a lifecycle test that merely runs `start` does
   not count as a test of ``husk_start``.  Hooks the core does not call yet are
   listed in UNTESTED_HOOKS with the later issue that brings them; an entry is
   reported as a warning on every run and must go once its test exists.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import re
import warnings

import pytest

from husk.hooks import spec

REPO = pathlib.Path(__file__).resolve().parents[2]
PLUGINS_DOC = REPO / "docs" / "plugins.md"
TESTS = REPO / "tests"

HOOKS = {name: getattr(spec, name) for name in dir(spec) if name.startswith("husk_")}

#: Hooks with no test yet, and the later issue that brings the core's call to them.
UNTESTED_HOOKS: dict[str, str] = {}

_SECTION = re.compile(r"^### (husk_\w+)\s*$", re.MULTILINE)
_CODE_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _sections() -> dict[str, str]:
    """docs/plugins.md's `### husk_*` sections: hook name -> section text."""
    text = PLUGINS_DOC.read_text()
    found = list(_SECTION.finditer(text))
    sections = {}
    for match, following in zip(found, found[1:] + [None]):
        end = following.start() if following else text.find("\n## ", match.end())
        sections[match.group(1)] = text[match.end():end if end != -1 else len(text)]
    return sections


def _documented_arguments(hook_name: str, section: str) -> list[str]:
    """The argument names in the section's first code block, `def husk_x(...):`."""
    block = _CODE_BLOCK.search(section)
    assert block, f"docs/plugins.md: section {hook_name} has no python code block with its signature"
    signature = block.group(1).strip().splitlines()[0]
    assert signature.startswith(f"def {hook_name}("), (
        f"docs/plugins.md: section {hook_name} starts with {signature!r}, not its signature")
    function = ast.parse(signature + "\n    ...").body[0]
    arguments = function.args
    return [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]


# -- 1. every hook is documented --------------------------------------------------------------
@pytest.mark.parametrize("hook_name", sorted(HOOKS))
def test_hook_is_documented_with_its_exact_signature(hook_name):
    sections = _sections()
    assert hook_name in sections, f"docs/plugins.md has no '### {hook_name}' section"
    expected = list(inspect.signature(HOOKS[hook_name]).parameters)
    assert _documented_arguments(hook_name, sections[hook_name]) == expected


def test_documented_hooks_all_exist():
    assert sorted(set(_sections()) - set(HOOKS)) == []


@pytest.mark.parametrize("hook_name", sorted(HOOKS))
def test_hook_section_says_when_arguments_return_raise(hook_name):
    section = _sections().get(hook_name)
    assert section is not None, f"docs/plugins.md has no '### {hook_name}' section"
    for heading in ("**When:**", "**Arguments:**", "**Return value:**", "**If it raises:**", "**Example:**"):
        assert heading in section, f"docs/plugins.md: section {hook_name} lacks {heading}"
    if HOOKS[hook_name].husk_spec["firstresult"]:
        assert "firstresult" in section, f"{hook_name} is firstresult; its section must say so"


def test_python_examples_in_plugins_doc_compile():
    for number, block in enumerate(_CODE_BLOCK.findall(PLUGINS_DOC.read_text())):
        source = block if not re.fullmatch(r"def \w+\(.*\):\n", block) else block + "    ...\n"
        compile(source, f"docs/plugins.md python block {number}", "exec")


# -- 2. every hook has a test -------------------------------------------------------------------
def _hook_tests() -> dict[str, list[str]]:
    """hook name -> tests named after it, in modules that implement that hook."""
    found: dict[str, list[str]] = {name: [] for name in HOOKS}
    for path in sorted(TESTS.rglob("test_*.py")):
        if path.resolve() == pathlib.Path(__file__).resolve():
            continue
        source = path.read_text()
        test_names = [node.name for node in ast.walk(ast.parse(source))
                      if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
        for hook_name in HOOKS:
            if f"def {hook_name}(" not in source:
                continue
            token = re.compile(rf"(^|_){hook_name.removeprefix('husk_')}(_|$)")
            found[hook_name] += [f"{path.relative_to(REPO)}::{name}" for name in test_names
                                 if token.search(name.removeprefix("test"))]
    return found


def test_every_hook_has_a_test_named_after_it():
    missing = [name for name, tests in _hook_tests().items() if not tests and name not in UNTESTED_HOOKS]
    assert missing == [], ("hooks with no test named after them in a module implementing them "
                           f"(add one, or list the hook in UNTESTED_HOOKS with its issue): {missing}")


def test_untested_hooks_allow_list_is_current():
    tests = _hook_tests()
    for hook_name, issue in UNTESTED_HOOKS.items():
        assert hook_name in HOOKS, f"UNTESTED_HOOKS names {hook_name}, which is not a hookspec"
        assert not tests[hook_name], (f"{hook_name} now has tests {tests[hook_name]}: "
                                      "remove it from UNTESTED_HOOKS")
        warnings.warn(f"{hook_name} has no test yet; it comes with {issue}", stacklevel=1)


# -- the CLI reference covers every verb ------------------------------------------------------
CLI_DOC = REPO / "docs" / "cli.md"


def _cli_paths() -> set[str]:
    """Every verb as a user types it: `husk ps`, `husk container ls`, ..."""
    import click

    from husk import cli

    cli._register()
    paths = set()
    for name, command in cli.cli.commands.items():
        if isinstance(command, click.Group):
            paths |= {f"husk {name} {sub}" for sub, c in command.commands.items() if not c.hidden}
        elif not command.hidden:
            paths.add(f"husk {name}")
    return paths


def test_cli_doc_has_a_section_for_every_verb():
    headings = [line for line in CLI_DOC.read_text().splitlines() if line.startswith("### ")]
    documented = {path for line in headings for path in re.findall(r"`(husk [a-z -]+)`", line)}
    assert sorted(_cli_paths() - documented) == [], "verbs missing from docs/cli.md headings"
    assert sorted(documented - _cli_paths()) == [], "docs/cli.md documents verbs that do not exist"
