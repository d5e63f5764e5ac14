"""What a checkpoint and a restore leave in inspect, ps, wait and the events,
compared with podman 4.3.1 (runc + CRIU): a checkpoint ends the process with
exit code 0 and no `died` event, `Checkpointed` only when the process stopped
(not with --leave-running, whose images stay restorable), podman's
CheckpointedAt, RestoredAt, Restored, CheckpointPath, CheckpointLog and
RestoreLog, cleared by the next start; and podman's refusals."""

import json
import os

import pytest

from husk.testing import wait_until

ZERO = "0001-01-01T00:00:00Z"


@pytest.fixture
def runc(husk_envs):
    return husk_envs("runc")


def _state(env, name) -> dict:
    return json.loads(env("inspect", name, check=True).stdout)[0]["State"]


def _statuses(env, name) -> list[str]:
    out = env("events", "--stream=false", "--format", "json", "--filter", f"container={name}", check=True).stdout
    return [json.loads(line)["Status"] for line in out.splitlines()]


def _ps_status(env, name) -> str:
    return env("ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Status}}", check=True).stdout.strip()


def _userdata(env, name) -> str:
    cid = env("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
    return os.path.join(env.root, "containers", cid, "userdata")


def test_checkpoint_is_an_exit_of_0_and_restore_is_recorded(runc):
    runc("run", "-d", "--name", "ck", "busybox", "sleep", "1000", check=True)
    userdata = _userdata(runc, "ck")
    runc("container", "checkpoint", "ck", check=True)
    state = _state(runc, "ck")
    assert (state["Status"], state["ExitCode"], state["Checkpointed"]) == ("exited", 0, True)
    assert state["CheckpointedAt"] != ZERO and state["FinishedAt"] != ZERO
    assert (state["CheckpointPath"], state["CheckpointLog"]) == (os.path.join(userdata, "checkpoint"), "")
    assert (state["Restored"], state["RestoredAt"]) == (False, ZERO)
    assert _ps_status(runc, "ck").startswith("Exited (0) ")
    assert runc("wait", "ck", check=True).stdout == "0\n"  # podman 4.3 errors here: see docs/cli.md
    statuses = _statuses(runc, "ck")
    assert "died" not in statuses and statuses[-2:] == ["checkpoint", "cleanup"]

    runc("container", "restore", "ck", check=True)
    state = _state(runc, "ck")
    assert (state["Status"], state["Checkpointed"], state["CheckpointedAt"]) == ("running", False, ZERO)
    assert state["Restored"] is True and state["RestoredAt"] != ZERO
    assert (state["CheckpointPath"], state["CheckpointLog"], state["RestoreLog"]) == ("", "", "")
    assert _statuses(runc, "ck")[-1] == "restore"

    runc("container", "checkpoint", "ck", check=True)  # a new checkpoint: not restored any more
    state = _state(runc, "ck")
    assert (state["Checkpointed"], state["Restored"], state["RestoredAt"]) == (True, False, ZERO)
    runc("start", "ck", check=True)  # a start discards the checkpoint's record
    state = _state(runc, "ck")
    assert (state["Status"], state["Checkpointed"], state["CheckpointedAt"], state["CheckpointPath"]) == (
        "running", False, ZERO, "")
    refused = runc("container", "restore", "ck")
    assert refused.returncode == 125 and "is running or paused, cannot restore" in refused.stderr
    runc("rm", "-f", "-t", "0", "ck", check=True)


def test_leave_running_is_not_checkpointed_but_restorable_after_a_stop(runc):
    runc("run", "-d", "--name", "lr", "busybox", "sleep", "1000", check=True)
    # --tcp-established is taken as podman takes it: this process has no socket for CRIU to fail on
    runc("container", "checkpoint", "--leave-running", "--tcp-established", "lr", check=True)
    state = _state(runc, "lr")
    assert (state["Status"], state["Checkpointed"], state["CheckpointedAt"]) == ("running", False, ZERO)
    assert state["CheckpointPath"] == os.path.join(_userdata(runc, "lr"), "checkpoint")
    assert _ps_status(runc, "lr").startswith("Up ")
    assert "checkpoint" in _statuses(runc, "lr")
    refused = runc("container", "restore", "lr")
    assert refused.returncode == 125
    assert refused.stderr.endswith("is running or paused, cannot restore: container state improper\n")
    runc("stop", "-t", "0", "lr", check=True)
    runc("container", "restore", "lr", check=True)  # podman restores the images a --leave-running left
    assert _state(runc, "lr")["Restored"] is True
    runc("rm", "-f", "-t", "0", "lr", check=True)


def test_keep_shows_the_logs_and_import_is_restored(runc, tmp_path):
    runc("run", "-d", "--name", "kp", "busybox", "sleep", "1000", check=True)
    userdata = _userdata(runc, "kp")
    archive = str(tmp_path / "kp.tar")
    runc("container", "checkpoint", "--keep", "--export", archive, "kp", check=True)
    state = _state(runc, "kp")
    assert state["CheckpointLog"] == os.path.join(userdata, "dump.log") and os.path.exists(state["CheckpointLog"])
    runc("container", "restore", "--keep", "kp", check=True)
    state = _state(runc, "kp")
    assert state["CheckpointPath"] == os.path.join(userdata, "checkpoint")
    assert state["RestoreLog"] == os.path.join(userdata, "restore.log") and os.path.exists(state["RestoreLog"])
    runc("container", "restore", "--import", archive, "--name", "kp2", check=True)
    state = _state(runc, "kp2")
    assert (state["Status"], state["Restored"], state["Checkpointed"]) == ("running", True, False)
    assert _statuses(runc, "kp2") == ["create", "restore"]
    runc("rm", "-f", "-t", "0", "kp", "kp2", check=True)


def test_restore_refusals_are_podmans(runc):
    result = runc("container", "restore", "nosuch")
    assert (result.returncode, result.stderr) == (125, "Error: no such container or image: nosuch\n")
    runc("create", "--name", "idle", "busybox", "true", check=True)
    result = runc("container", "restore", "idle")
    assert (result.returncode, result.stderr) == (
        125, "Error: a complete checkpoint for this container cannot be found, cannot restore\n")


def test_the_api_shows_them_to_podman_clients_only(api_runc):
    """libpod's inspect has podman's checkpoint fields; Docker's State has none of them."""
    env = api_runc.env
    env("run", "-d", "--name", "apick", "busybox", "sleep", "1000", check=True)
    env("container", "checkpoint", "apick", check=True)
    status, _, podman = api_runc.request("GET", "/v4.3.1/libpod/containers/apick/json")
    assert status == 200 and podman["State"]["Checkpointed"] is True and podman["State"]["ExitCode"] == 0
    assert podman["State"]["CheckpointPath"].endswith("/userdata/checkpoint")
    status, _, docker = api_runc.request("GET", "/containers/apick/json")
    assert status == 200 and sorted(docker["State"]) == [
        "Dead", "Error", "ExitCode", "FinishedAt", "OOMKilled", "Paused", "Pid", "Restarting", "Running",
        "StartedAt", "Status"]
    env("rm", "-f", "-t", "0", "apick", check=True)


def test_restore_all_takes_leave_running_images_too(runc):
    """podman's restore --all restores a --leave-running checkpoint's images once
    the container has stopped; a container stopped without a checkpoint stays as it is."""
    for name in ("dumped", "kept", "plain"):
        runc("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    runc("container", "checkpoint", "dumped", check=True)
    runc("container", "checkpoint", "--leave-running", "kept", check=True)
    runc("stop", "-t", "0", "kept", "plain", check=True)
    runc("container", "restore", "--all", check=True)
    for name, status in (("dumped", "running"), ("kept", "running"), ("plain", "exited")):
        assert _state(runc, name)["Status"] == status, name
    runc("rm", "-f", "-t", "0", "dumped", "kept", "plain", check=True)


def test_an_exported_rm_container_is_gone_when_checkpoint_returns(runc, tmp_path):
    runc("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "1000", check=True)
    archive = str(tmp_path / "gone.tar")
    runc("container", "checkpoint", "--export", archive, "gone", check=True)
    assert runc("ps", "-a", "--format", "{{.Names}}", check=True).stdout == ""
    assert _statuses(runc, "gone")[-1] == "remove"
    runc("container", "restore", "--import", archive, check=True)
    assert _state(runc, "gone")["Status"] == "running"
    # still a --rm container, as podman keeps it: gone once its process has stopped
    assert runc("inspect", "--format", "{{.HostConfig.AutoRemove}}", "gone", check=True).stdout == "true\n"
    runc("stop", "-t", "0", "gone", check=True)
    assert wait_until(lambda: runc("ps", "-a", "--format", "{{.Names}}", check=True).stdout == "")


@pytest.mark.parametrize("args, message", [
    (["container", "checkpoint"], "you must provide at least one name or id"),
    (["container", "restore"], "you must provide at least one name or id"),
    (["container", "checkpoint", "-c", "lz4", "-e", "/tmp/x.tar", "c"],
     'selected compression algorithm ("lz4") not supported. Please select one from: gzip, none, zstd'),
    (["container", "restore", "--name", "x", "c"], "--name can only be used with image or --import"),
    (["container", "restore", "--ignore-rootfs", "c"], "--ignore-rootfs can only be used with image or --import"),
    (["container", "restore", "--ignore-volumes", "c"], "--ignore-volumes can only be used with image or --import"),
    (["container", "restore", "-i", "/tmp/x.tar", "c"], "cannot use --import with positional arguments"),
])
def test_flag_refusals_in_podmans_words(runc, args, message):
    result = runc(*args)
    assert (result.returncode, result.stderr) == (125, f"Error: {message}\n")
