"""Every lifecycle hook fires at its transition, with the right arguments, from a
plugin loaded the way a site loads one (named in the config file)."""

from __future__ import annotations

import json
import textwrap

import pytest

PROBE = textwrap.dedent('''
    import json, os
    from husk.hooks import hookimpl

    def _record(hook, container, **extra):
        with open(os.environ["PROBE_LOG"], "a") as log:
            log.write(json.dumps({"hook": hook, "id": container.id, "name": container.name,
                                  "state": str(container.state.state), **extra}) + "\\n")
        if os.environ.get("PROBE_RAISE") == hook:
            raise RuntimeError("probe refuses " + hook)

    @hookimpl
    def husk_pre_init(container, spec):
        spec["process"]["env"].append("PROBE=edited")
        _record("pre_init", container, args=spec["process"]["args"])

    @hookimpl
    def husk_start(container):
        _record("start", container, pid=container.state.pid)

    @hookimpl
    def husk_stop(container, timeout):
        _record("stop", container, timeout=timeout)

    @hookimpl
    def husk_cleanup(container):
        _record("cleanup", container)

    @hookimpl
    def husk_attach(container):
        _record("attach", container)

    @hookimpl
    def husk_exec_session(container, session_id, command):
        _record("exec_session", container, session_id=session_id, command=command)
''')


@pytest.fixture
def probed(husk, tmp_path):
    (tmp_path / "huskprobe.py").write_text(PROBE)
    log = tmp_path / "probe.log"
    husk.load_plugin(str(tmp_path), "huskprobe", PROBE_LOG=str(log))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return husk, calls


def test_hooks_fire_with_arguments_and_pre_init_edits_the_spec(probed):
    husk, calls = probed
    result = husk("run", "--name", "p", "busybox", "sh", "-c", "echo $PROBE", check=True)
    assert result.stdout == "edited\n"
    cid = husk("inspect", "--format", "{{.Id}}", "p", check=True).stdout.strip()
    seen = calls()
    hooks = [c["hook"] for c in seen]
    assert hooks[:3] == ["pre_init", "attach", "start"]
    assert seen[0]["args"] == ["sh", "-c", "echo $PROBE"] and seen[0]["state"] == "created"
    assert seen[1]["state"] == "initialized"
    assert seen[2]["pid"] > 0 and seen[2]["state"] == "running"
    assert all(c["id"] == cid and c["name"] == "p" for c in seen)
    assert "cleanup" in hooks
    husk("run", "-d", "--name", "q", "busybox", "sleep", "1000", check=True)
    husk("stop", "-t", "3", "q", check=True)
    stops = [c for c in calls() if c["hook"] == "stop"]
    assert len(stops) == 1 and stops[0]["timeout"] == 3 and stops[0]["name"] == "q"
    assert stops[0]["state"] == "running"


def test_failing_pre_init_leaves_container_consistent(probed):
    husk, calls = probed
    husk.extra_env["PROBE_RAISE"] = "pre_init"
    husk("create", "--name", "f", "busybox", "true", check=True)
    result = husk("start", "f")
    assert result.returncode == 125
    assert "plugin 'huskprobe' failed in husk_pre_init" in result.stderr
    assert "probe refuses pre_init" in result.stderr
    assert result.stderr.count("\n") == 1
    status = husk("inspect", "--format", "{{.State.Status}} {{.GraphDriver.Data.MergedDir}}", "f", check=True)
    assert status.stdout.split()[0] == "created"  # podman's name for configured
    with open("/proc/self/mountinfo") as mounts:
        assert husk.root not in mounts.read()
    del husk.extra_env["PROBE_RAISE"]
    assert husk("start", "-a", "f").returncode == 0
