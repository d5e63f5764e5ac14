"""runc's backend freezes a container (`runc pause`) before CRIU dumps it and
thaws it only when it goes on running: a checkpoint's CLI killed in between
leaves the container frozen while its record says running.  The checkpoint's
marker in the run root tells the next command, which resumes the container
(husk.engine.lifecycle.release_interrupted_checkpoint)."""

import os
import subprocess

import pytest


def _runc(env, *args: str) -> subprocess.CompletedProcess:
    root = os.path.join(env.runroot, "runtime", "runc")
    return subprocess.run(["runc", "--root", root, *args], capture_output=True, text=True, timeout=60)


def _status(env, cid: str) -> str:
    import json

    result = _runc(env, "state", cid)
    return json.loads(result.stdout)["status"] if result.returncode == 0 else "unknown"


@pytest.mark.parametrize("flags,next_command", [
    ([], ["ps", "--format", "{{.Names}} {{.State}}"]),
    (["--leave-running"], ["container", "checkpoint", "--leave-running", "cpk"]),
], ids=["dump-then-ps", "leave-running-then-checkpoint"])
def test_a_checkpoint_killed_while_the_container_is_frozen_leaves_it_running(flags, next_command, husk_envs):
    env = husk_envs("runc")
    cid = env("run", "-d", "--name", "cpk", "busybox", "sleep", "1000", check=True).stdout.strip()
    try:
        env.extra_env["HUSK_FAULT"] = "checkpoint.pause.after:kill"
        try:
            killed = env("container", "checkpoint", *flags, "cpk", timeout=120)
        finally:
            del env.extra_env["HUSK_FAULT"]
        assert killed.returncode == -9, killed.stderr
        assert _status(env, cid) == "paused"  # the window: frozen, the record says running

        after = env(*next_command, timeout=120)
        assert after.returncode == 0, after.stderr
        if next_command[0] == "ps":
            assert after.stdout == "cpk running\n"
        assert _status(env, cid) == "running"
        assert env("inspect", "--format", "{{.State.Status}}", "cpk", check=True).stdout == "running\n"
        assert env("exec", "cpk", "true", timeout=120).returncode == 0
        assert not os.path.exists(os.path.join(env.runroot, "containers", cid, "checkpointing"))
    finally:
        _runc(env, "resume", cid)  # a failure above must not leave the teardown a frozen container
