"""The CLI loads only the module of the verb being run (issue 20): its index of
verbs (husk.cli.VERBS, GROUPS) must say where every verb lives, or that verb
costs a load of every module."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from husk import cli

#: prints {"top": [top-level names], "groups": {group: [sub-commands]}, "modules": [husk.cli modules
#: imported], "loaded": [verb modules registered]}
PROBE = """
import json, sys
from husk import cli
cli.load(json.loads(sys.argv[1]))
print(json.dumps({
    "top": sorted(cli.cli.commands),
    "groups": {name: sorted(c.commands) for name, c in cli.cli.commands.items() if hasattr(c, "commands")},
    "modules": sorted(m for m in sys.modules if m.startswith("husk.cli.")),
    "loaded": sorted(cli._loaded),
}))
"""


def probe(modules) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(modules))], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def everything() -> dict:
    return probe(cli.MODULES)


def test_every_top_level_verb_is_indexed_with_its_module(everything):
    groups_made = set(cli.GROUPS)
    found = {}
    for module in cli.MODULES:
        base = set(probe([m for group in cli.GROUPS.values() if module in group[1:] for m in group[:1]])["top"])
        found.update(dict.fromkeys(set(probe([module])["top"]) - base - groups_made, module))
    assert found == cli.VERBS


def test_every_group_is_complete_with_its_modules(everything):
    assert sorted(everything["groups"]) == sorted(cli.GROUPS)
    for group, modules in cli.GROUPS.items():
        assert probe(modules)["groups"][group] == everything["groups"][group], group


def test_a_verb_loads_only_its_module():
    """Not even the module making a group it adds to: `pause` is in the
    `container` group, whose module (create's and run's options) it does not need."""
    pause = probe([cli.VERBS["pause"]])
    assert pause["loaded"] == ["ops"] and "husk.cli.container" not in pause["modules"]
    assert not {"husk.cli.network", "husk.cli.volume", "husk.cli.system", "husk.cli.image"} & set(pause["modules"])
    assert probe([cli.VERBS["images"]])["loaded"] == ["image"]


def test_a_group_s_verb_loads_only_the_modules_it_needs():
    """`container checkpoint` registers the group's maker and checkpoint's
    module, not the group's ten others (run_flags among them); a sub-command no
    top-level verb indexes (`container prune`) and `container --help` load the
    whole group."""
    script = """
import json, sys
from husk import cli
group = cli.cli.commands["container"]
steps = [sorted(cli._loaded)]
group.commands["checkpoint"]
steps.append(sorted(cli._loaded))
steps.append("husk.cli.run_flags" in sys.modules)
group.commands["prune"]
steps.append(sorted(cli._loaded))
print(json.dumps(steps + [group.list_commands(None)]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    maker, checkpoint, run_flags, prune, listed = json.loads(out)
    assert maker == ["container"] and checkpoint == ["checkpoint", "container"] and not run_flags
    assert set(cli.GROUPS["container"]) <= set(prune)
    assert listed == sorted(probe(cli.MODULES)["groups"]["container"])


def test_a_group_made_after_its_verbs_has_them():
    """`pause` loaded first (its module only), then the `container` group: the
    group still has pause, unpause and restart as its sub-commands."""
    script = """
import json
from husk import cli
cli.cli.commands["pause"]
group = cli.cli.commands["container"]
print(json.dumps([sorted(cli._loaded), [name for name in ("pause", "unpause", "restart") if name in group.commands]]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [["container", "ops"], ["pause", "unpause", "restart"]]


@pytest.mark.parametrize("group", ["container", "image"])
def test_an_unknown_sub_command_of_a_lazy_group_is_one_line(group, tmp_path):
    """`husk container nosuch` says so as podman does (exit 125), not a RecursionError
    of the group's lazy lookup."""
    result = subprocess.run([sys.executable, "-m", "husk", "--root", str(tmp_path / "root"), "--runroot",
                             str(tmp_path / "run"), group, "nosuch"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (125, "", "Error: No such command 'nosuch'.\n")
