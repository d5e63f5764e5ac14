"""Fault points (husk.faults): the declared list is the code's, and a point
costs nothing unless armed."""

import ast
import errno
import os
import pathlib
import subprocess
import sys

import pytest

from husk import faults

REPO = pathlib.Path(__file__).resolve().parents[2]


def _calls_in_sources() -> dict[str, list[str]]:
    """Every `fault("NAME")` call under core/ and plugins/: name -> where."""
    found: dict[str, list[str]] = {}
    for path in [*(REPO / "core").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]:
        if "__pycache__" in path.parts or path.name == "faults.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "fault"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.setdefault(node.args[0].value, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_the_declared_points_are_exactly_the_calls_in_the_code():
    calls = _calls_in_sources()
    assert sorted(set(faults.POINTS)) == sorted(faults.POINTS), "a point is declared twice"
    assert sorted(calls) == sorted(faults.POINTS)
    assert {name: where for name, where in calls.items() if len(where) > 1} == {}, "a point used twice"


def test_points_are_named_operation_step_before_or_after():
    for name in faults.POINTS:
        operation, step, when = name.split(".")
        assert operation and step and when in ("before", "after"), name


def test_the_environment_table():
    assert faults._armed("") == {}
    assert faults._armed("a.b.after:kill, c.d.before:enospc,bad,e.f.after:nope") == {
        "a.b.after": "kill", "c.d.before": "enospc"}


def test_a_disabled_point_does_nothing_and_armed_points_fail_as_asked(monkeypatch):
    faults.fault("init.mount.after")  # nothing armed in the tests' own process
    monkeypatch.setattr(faults, "ARMED", {"x.y.before": "raise", "x.y.after": "enospc"})
    with pytest.raises(faults.FaultInjected, match="x.y.before"):
        faults.fault("x.y.before")
    with pytest.raises(OSError) as caught:
        faults.fault("x.y.after")
    assert caught.value.errno == errno.ENOSPC
    faults.fault("x.z.after")


def test_kill_kills_the_process_that_reaches_the_point():
    code = "from husk.faults import fault; fault('x.y.before'); print('alive')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "HUSK_FAULT": "x.y.before:kill"}, timeout=60)
    assert (result.returncode, result.stdout) == (-9, "")


def test_the_monitor_reads_the_same_table():
    """core/monitor/ mirrors the lookup (it cannot import husk)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import monitor; print(sorted(monitor.FAULTS.items()))")
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO / "core")], capture_output=True,
                            text=True, env={"HUSK_FAULT": "a.b.after:kill, c.d.before:enospc,bad"}, timeout=60)
    assert result.stdout.strip() == str(sorted(faults._armed("a.b.after:kill, c.d.before:enospc").items()))
