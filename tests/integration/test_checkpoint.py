"""Checkpoint and restore with the husk-criu plugin (runc + CRIU): the process's
memory survives (a counter continues), the restored container is a started
one (logs, exec, checkpoint again, stop, wait), archives move containers
between storage roots, and every refusal is one clear line."""

import io
import json
import os
import shutil
import subprocess
import tarfile
import time

import pytest

from husk.testing import HUSK, find_monitors, wait_until

COUNTER = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done"


@pytest.fixture
def runc(husk_envs):
    return husk_envs("runc")


@pytest.fixture
def other(husk_envs):
    """A second storage root ("another host")."""
    return husk_envs("runc")


def _counter(env, name="count"):
    env("run", "-d", "--name", name, "busybox", "sh", "-c", COUNTER, check=True)
    _wait_for_count(env, name, 5)


def _last(env, name) -> int:
    lines = env("logs", name, check=True).stdout.split()
    return int(lines[-1]) if lines else 0


def _wait_for_count(env, name, above, within=10.0) -> int:
    deadline = time.monotonic() + within
    while (value := _last(env, name)) <= above:
        assert time.monotonic() < deadline, f"{name}'s counter stuck at {value}"
        time.sleep(0.1)
    return value


def _continues(env, name, was: int) -> None:
    """The counter goes on from `was` (memory kept), not from 1 again.  The
    line in flight at the checkpoint may be lost or repeated (it was in the pipe
    CRIU saw), so the first value after it may be one off."""
    _wait_for_count(env, name, was + 3)
    lines = [int(x) for x in env("logs", name, check=True).stdout.split()]
    assert lines.count(1) == 1, "the counter restarted"
    start = len(lines) - 1 - lines[::-1].index(was) if was in lines else lines.index(was + 1)
    after = [value for value in lines[start + 1:]]
    assert was <= after[0] <= was + 2, f"the counter went from {was} to {after[0]}"
    assert after == list(range(after[0], after[0] + len(after))), "the counter skipped or repeated"


def _state(env, name) -> str:
    return env("inspect", "--format", "{{.State.Status}}", name, check=True).stdout.strip()


def test_checkpoint_and_restore_continue_the_counter(runc):
    _counter(runc)
    events = runc.popen("events", "--format", "{{.Status}}", stdout=subprocess.PIPE, text=True)
    try:
        assert runc("container", "checkpoint", "count", check=True).stdout == "count\n"
        assert _state(runc, "count") == "exited"
        was = _last(runc, "count")
        time.sleep(0.5)
        assert _last(runc, "count") == was  # nothing runs while checkpointed
        assert runc("container", "restore", "count", check=True).stdout == "count\n"
        assert _state(runc, "count") == "running"
        _continues(runc, "count", was)
        # a restored container is a started one: exec, a second checkpoint, stop, wait
        assert runc("exec", "count", "echo", "in").stdout == "in\n"
        runc("container", "checkpoint", "count", check=True)
        was = _last(runc, "count")
        runc("container", "restore", "count", check=True)
        _continues(runc, "count", was)
        runc("stop", "-t", "0", "count", check=True)
        assert runc("wait", "count", check=True).stdout.strip() == "137"
    finally:
        events.terminate()
    statuses = events.communicate(timeout=10)[0].split()
    assert "checkpoint" in statuses and "restore" in statuses


def test_leave_running_keeps_the_process(runc):
    _counter(runc)
    stats = runc("container", "checkpoint", "--leave-running", "--print-stats", "count", check=True)
    report = json.loads(stats.stdout)  # podman's report, and nothing else on stdout
    assert report["podman_checkpoint_duration"] > 0
    [entry] = report["container_statistics"]
    assert (entry["RawInput"], entry["runtime_checkpoint_duration"] > 0) == ("count", True)
    assert "criu_statistics" in entry
    assert _state(runc, "count") == "running"
    was = _last(runc, "count")
    _wait_for_count(runc, "count", was + 2)
    result = runc("container", "restore", "count")
    assert result.returncode == 125 and "is running or paused, cannot restore" in result.stderr


def test_export_import_across_storage_roots_in_one_pipeline(runc, other):
    _counter(runc)
    runc("exec", "count", "sh", "-c", "echo changed > /marker", check=True)
    source = subprocess.Popen([HUSK, *runc.global_args, "container", "checkpoint", "--export", "-", "count"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=runc.env())
    target = subprocess.run([HUSK, *other.global_args, "container", "restore", "--import", "-"],
                            stdin=source.stdout, capture_output=True, text=True, timeout=60, env=other.env())
    source.stdout.close()
    assert source.wait(timeout=60) == 0, source.stderr.read()
    assert target.returncode == 0, target.stderr
    was = int(runc("logs", "count", check=True).stdout.split()[-1])
    _continues(other, "count", was)
    assert other("exec", "count", "cat", "/marker").stdout == "changed\n"  # the upper dir came along


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_name_twice_from_one_archive(runc, tmp_path, compression):
    _counter(runc)
    archive = str(tmp_path / "count.tar")
    runc("container", "checkpoint", "--leave-running", "--compress", compression, "--export", archive, "count",
         check=True)
    ids = {runc("container", "restore", "--import", archive, "--name", name, check=True).stdout.strip()
           for name in ("copy1", "copy2")}
    assert len(ids) == 2
    for name in ("copy1", "copy2", "count"):
        assert _state(runc, name) == "running"
    was = _last(runc, "copy2")
    _wait_for_count(runc, "copy2", was + 2)
    again = runc("container", "restore", "--import", archive, "--name", "copy1")
    assert again.returncode == 125 and "already exists" in again.stderr
    assert runc("ps", "-a", "--format", "{{.Names}}").stdout.split().count("copy1") == 1


def test_ignore_rootfs_leaves_the_upper_dir_out(runc, other, tmp_path):
    _counter(runc)
    runc("exec", "count", "sh", "-c", "echo changed > /marker", check=True)
    archive = str(tmp_path / "bare.tar")
    runc("container", "checkpoint", "--ignore-rootfs", "--export", archive, "count", check=True)
    with tarfile.open(archive) as tar:
        assert "rootfs-diff.tar" not in tar.getnames()
    # CRIU restores an open-file-free process without the file; the file itself is gone
    other("container", "restore", "--import", archive, check=True)
    assert other("exec", "count", "cat", "/marker").returncode != 0
    full = str(tmp_path / "full.tar")
    runc("container", "restore", "count", check=True)
    runc("container", "checkpoint", "--export", full, "count", check=True)
    other("container", "restore", "--import", full, "--ignore-rootfs", "--name", "bare", check=True)
    assert other("exec", "bare", "cat", "/marker").returncode != 0


def test_changed_file_in_upper_dir_survives_local_restore(runc):
    _counter(runc)
    runc("exec", "count", "sh", "-c", "echo kept > /etc/kept; rm /etc/hostname.orig 2>/dev/null; true", check=True)
    runc("container", "checkpoint", "count", check=True)
    runc("container", "restore", "count", check=True)
    assert runc("exec", "count", "cat", "/etc/kept").stdout == "kept\n"


def test_restore_removes_the_images_and_a_failed_one_leaves_no_monitor(runc):
    """The images go after a restore (renamed at once, unlinked in the
    background, with what a removal killed half-way left); --keep keeps
    them.  The monitor a restore starts before the mount is given up when
    the restore fails."""
    runc("run", "-d", "--name", "c", "busybox", "sleep", "1000", check=True)
    cid = runc("inspect", "--format", "{{.Id}}", "c", check=True).stdout.strip()
    userdata = os.path.join(runc.root, "containers", cid, "userdata")
    images = os.path.join(userdata, "checkpoint")
    runc("container", "checkpoint", "c", check=True)
    assert os.path.exists(os.path.join(images, "inventory.img"))
    os.makedirs(os.path.join(userdata, "checkpoint.removing-1-2", "pages"))  # an earlier removal, killed half-way
    runc("container", "restore", "c", check=True)
    assert not os.path.exists(images)
    assert wait_until(lambda: not [n for n in os.listdir(userdata) if n.startswith("checkpoint")]), \
        os.listdir(userdata)
    runc("container", "checkpoint", "c", check=True)
    runc("container", "restore", "--keep", "c", check=True)
    assert os.path.exists(os.path.join(images, "inventory.img"))
    runc("container", "checkpoint", "c", check=True)
    shutil.rmtree(images)
    assert wait_until(lambda: find_monitors(runc.runroot) == []), "the checkpointed container's monitor stayed"
    result = runc("container", "restore", "c")
    assert result.returncode == 125 and "a complete checkpoint for this container cannot be found" in result.stderr
    assert wait_until(lambda: find_monitors(runc.runroot) == []), "a failed restore left its monitor behind"


def test_refusals(runc, tmp_path):
    runc("create", "--name", "idle", "busybox", "true", check=True)
    result = runc("container", "checkpoint", "idle")
    assert (result.returncode, result.stderr) == (
        125, 'Error: "created" is not running, cannot checkpoint: container state improper\n')
    result = runc("container", "restore", "idle")
    assert result.returncode == 125 and "a complete checkpoint for this container cannot be found" in result.stderr
    runc("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "100", check=True)
    result = runc("container", "checkpoint", "gone")
    assert result.returncode == 125 and "'--rm' unless '--export'" in result.stderr
    result = runc("container", "checkpoint", "--compress", "lz4", "gone")
    assert result.returncode == 125 and "compression algorithm (\"lz4\") not supported" in result.stderr
    result = runc("container", "restore", "--name", "x", "idle")
    assert result.returncode == 125 and "--name can only be used with image or --import" in result.stderr
    result = runc("container", "checkpoint", "nosuch")
    assert result.returncode == 125 and "no container" in result.stderr


def test_crun_is_refused_clearly(husk):
    husk("run", "-d", "--name", "c", "busybox", "sleep", "100", check=True)
    result = husk("container", "checkpoint", "c")
    assert result.returncode == 125
    assert result.stderr.startswith("Error: the OCI runtime 'crun' cannot checkpoint here (crun version")
    assert "+CRIU" in result.stderr and result.stderr.count("\n") == 1
    assert _state(husk, "c") == "running"


def test_without_the_plugin_says_what_to_install(runc):
    runc.extra_env["HUSK_DISABLED_PLUGINS"] = "criu"
    runc("run", "-d", "--name", "c", "busybox", "sleep", "100", check=True)
    result = runc("container", "checkpoint", "c")
    assert result.returncode == 125
    assert result.stderr == ("Error: checkpointing needs a checkpoint plugin: install the husk-criu package\n")
    result = runc("container", "restore", "--import", "/nonexistent")
    assert result.stderr == "Error: restoring needs a checkpoint plugin: install the husk-criu package\n"
    assert result.returncode == 125 and _state(runc, "c") == "running"


# -- untrusted archives ----------------------------------------------------------------------
def _tar(members) -> bytes:
    """A tar built from (name, kind, data-or-linkname, size-override) tuples."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, data, *size in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE and size:  # a header that claims more than follows
                info.size = size[0]
                header = info.tobuf(tar.format, tar.encoding, tar.errors)
                tar.fileobj.write(header)
                tar.offset += len(header)
            elif kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = data or ""
                tar.addfile(info)
    return out.getvalue()


VERSION = ("husk-checkpoint.version", tarfile.REGTYPE, b"husk-checkpoint 1\n")


@pytest.mark.parametrize("archive, message", [
    (_tar([("config.json", tarfile.REGTYPE, b"{}")]), "no version marker"),
    (_tar([("husk-checkpoint.version", tarfile.REGTYPE, b"husk-checkpoint 99\n")]), "unsupported version marker"),
    (_tar([VERSION, ("../escape", tarfile.REGTYPE, b"x")]), "unexpected member '../escape'"),
    (_tar([VERSION, ("checkpoint", tarfile.DIRTYPE, None), ("checkpoint/../../x", tarfile.REGTYPE, b"x")]),
     "unexpected member"),
    (_tar([VERSION, ("checkpoint", tarfile.DIRTYPE, None), ("checkpoint/link", tarfile.SYMTYPE, "/etc/shadow")]),
     "is a link"),
    (_tar([VERSION, ("checkpoint", tarfile.DIRTYPE, None), ("checkpoint/hard", tarfile.LNKTYPE, "/etc/shadow")]),
     "is a link"),
    (_tar([VERSION, ("checkpoint", tarfile.DIRTYPE, None), ("checkpoint/dev", tarfile.CHRTYPE, None)]),
     "is a device node"),
    (_tar([VERSION, ("config.json", tarfile.REGTYPE, b"", 1 << 40)])[:4096], "claims"),
    (_tar([VERSION, ("container.log", tarfile.REGTYPE, b"x" * 2048)])[:1536], "truncated"),
    (_tar([VERSION]), "no config.json"),
    (b"not a tar at all" * 64, "invalid checkpoint archive"),
    (b"", "invalid checkpoint archive"),
])
def test_bad_archives_are_refused_and_leave_nothing(runc, archive, message):
    before = sorted(os.listdir(os.path.join(runc.root, "containers"))) if os.path.isdir(
        os.path.join(runc.root, "containers")) else []
    result = runc("container", "restore", "--import", "-", input=archive)
    stderr = result.stderr.decode()
    assert result.returncode == 125, stderr
    assert message in stderr and stderr.startswith("Error: ") and stderr.count(b"\n".decode()) == 1, stderr
    assert runc("ps", "-aq").stdout == ""
    assert sorted(os.listdir(os.path.join(runc.root, "containers"))) == before


def test_device_node_in_rootfs_diff_is_refused(runc, tmp_path):
    _counter(runc)
    archive = tmp_path / "a.tar"
    runc("container", "checkpoint", "--leave-running", "--export", str(archive), "count", check=True)
    evil_diff = _tar([("dev/sda", tarfile.CHRTYPE, None)])
    rebuilt = io.BytesIO()
    with tarfile.open(archive) as src, tarfile.open(fileobj=rebuilt, mode="w") as dst:
        for member in src:
            if member.name == "rootfs-diff.tar":
                member.size = len(evil_diff)
                dst.addfile(member, io.BytesIO(evil_diff))
            else:
                dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    result = runc("container", "restore", "--import", "-", "--name", "evil", input=rebuilt.getvalue())
    assert result.returncode == 125 and b"device node 'dev/sda'" in result.stderr
    assert runc("container", "exists", "evil").returncode == 1


def test_restored_container_is_attachable(runc):
    """The restored process's output reaches a new attach, as a started one's does."""
    _counter(runc)
    runc("container", "checkpoint", "count", check=True)
    runc("container", "restore", "count", check=True)
    attach = runc.popen("attach", "--no-stdin", "count", stdout=subprocess.PIPE, text=True)
    try:
        first = int(attach.stdout.readline())
        second = int(attach.stdout.readline())
        assert second == first + 1 and first > 5  # counting on, not from 1
    finally:
        attach.kill()
        attach.wait()
    assert _state(runc, "count") == "running"
    runc("stop", "-t", "0", "count", check=True)


def test_a_container_with_a_terminal_is_checkpointed_and_restored(runc, tmp_path):
    """podman 4.3.1 (runc) checkpoints a -t container and restores it on a new
    terminal (runc restore hands the pty master to the console socket, as at create);
    husk refused: 'checkpointing a container with a terminal (-t) is not supported'.
    The restored process's stdio is the monitor's terminal: its log goes on, and an
    exported checkpoint restores into a new container with a terminal too."""
    runc("run", "-dt", "--name", "ttyck", "busybox", "sh", "-c", COUNTER, check=True)
    try:
        _wait_for_count(runc, "ttyck", 5)
        assert runc("container", "checkpoint", "ttyck", check=True).stdout == "ttyck\n"
        assert _state(runc, "ttyck") == "exited"
        was = _last(runc, "ttyck")
        assert runc("container", "restore", "ttyck", check=True).stdout == "ttyck\n"
        assert _state(runc, "ttyck") == "running"
        assert _wait_for_count(runc, "ttyck", was + 3) > was
        assert runc("logs", "ttyck", check=True).stdout.split().count("1") == 1, "the counter restarted"
        assert runc("exec", "ttyck", "readlink", "/proc/1/fd/1", check=True).stdout.startswith("/dev/pts/")
        archive = str(tmp_path / "ttyck.tar.gz")
        runc("container", "checkpoint", "-e", archive, "ttyck", check=True)
        runc("container", "restore", "-i", archive, "-n", "ttyck2", check=True)
        assert runc("inspect", "--format", "{{.Config.Tty}}", "ttyck2", check=True).stdout == "true\n"
        assert runc("exec", "ttyck2", "readlink", "/proc/1/fd/1", check=True).stdout.startswith("/dev/pts/")
        _wait_for_count(runc, "ttyck2", _last(runc, "ttyck2") + 3)
    finally:
        runc("rm", "-f", "-t", "0", "ttyck", "ttyck2")
