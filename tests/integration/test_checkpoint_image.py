"""`checkpoint --create-image` and `restore IMAGE` (issue 12 item 3), on runc
(Debian's crun has no CRIU support): a checkpoint as an image of one layer, and a
container again from it."""

from __future__ import annotations

import io
import tarfile
import time

COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.2; done"


def _count(husk, name: str) -> int:
    """The counter's value, read through cp (any state: the rootfs is mounted for it)."""
    data = husk("cp", f"{name}:/count", "-", input=b"", check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return int(tar.extractfile("count").read())


def _wait_for_count(husk, name: str, above: int) -> int:
    deadline = time.monotonic() + 120
    while True:
        value = _count(husk, name)
        if value > above or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_checkpoint_image_and_restore_from_it(husk_envs):
    runc = husk_envs("runc")
    runc("run", "-d", "--name", "c", "busybox", "sh", "-c", COUNTER, check=True)
    _wait_for_count(runc, "c", 2)
    created = runc("container", "checkpoint", "--create-image", "ckpt:1", "c", check=True).stdout.strip()
    assert runc("image", "inspect", "-f", "{{.Id}}", "ckpt:1", check=True).stdout.strip() == created
    labels = runc("image", "inspect", "-f", '{{index .Labels "io.podman.annotations.checkpoint.name"}} '
                  '{{index .Labels "io.podman.annotations.checkpoint.runtime.name"}}', "ckpt:1", check=True)
    assert labels.stdout == "c runc\n"
    assert runc("inspect", "-f", "{{.State.Status}}", "c", check=True).stdout == "exited\n"
    at_checkpoint = _count(runc, "c")
    runc("rm", "c", check=True)
    restored = runc("container", "restore", "ckpt:1", check=True).stdout.strip()
    assert runc("inspect", "-f", "{{.Id}} {{.Name}} {{.State.Status}}", "c", check=True).stdout == (
        f"{restored} c running\n")
    assert _wait_for_count(runc, "c", at_checkpoint) > at_checkpoint  # it counts on from where it was
    runc("container", "restore", "--name", "copy", "ckpt:1", check=True)
    assert runc("inspect", "-f", "{{.State.Status}}", "copy", check=True).stdout == "running\n"
    plain = runc("container", "restore", "busybox")  # an image, but no checkpoint: a container name
    assert plain.returncode == 125 and "no such container" in plain.stderr
    both = runc("container", "checkpoint", "--create-image", "x", "--export", "/dev/null", "copy")
    assert both.returncode == 125 and "--create-image checkpoints one container" in both.stderr
    runc("rm", "-f", "-t", "0", "c", "copy", check=True)
    runc("rmi", "ckpt:1", check=True)


def test_pre_checkpoint_and_with_previous(husk_envs):
    """--pre-checkpoint dumps the memory with the container running on, and
    --with-previous the rest; where CRIU cannot track dirty memory (this
    kernel has no soft-dirty bits), both are refused before anything is dumped."""
    from husk_criu.checkpoint import dirty_tracking_off

    runc = husk_envs("runc")
    runc("run", "-d", "--name", "c", "busybox", "sh", "-c", COUNTER, check=True)
    _wait_for_count(runc, "c", 1)
    pre = runc("container", "checkpoint", "--pre-checkpoint", "c")
    if dirty_tracking_off():
        assert pre.returncode == 125
        assert pre.stderr == f"Error: --pre-checkpoint: {dirty_tracking_off()}\n"
        refused = runc("container", "checkpoint", "--with-previous", "c")
        assert refused.returncode == 125 and "--with-previous: CRIU's dirty memory tracking is off" in refused.stderr
        assert runc("inspect", "-f", "{{.State.Status}}", "c", check=True).stdout == "running\n"
    else:
        assert pre.returncode == 0, pre.stderr
        assert runc("inspect", "-f", "{{.State.Status}}", "c", check=True).stdout == "running\n"
        runc("container", "checkpoint", "--with-previous", "c", check=True)
        at_checkpoint = _count(runc, "c")
        runc("container", "restore", "c", check=True)
        assert _wait_for_count(runc, "c", at_checkpoint) > at_checkpoint
    both = runc("container", "checkpoint", "--pre-checkpoint", "--with-previous", "c")
    assert both.returncode == 125 and "--pre-checkpoint dumps memory only" in both.stderr
    runc("rm", "-f", "-t", "0", "c", check=True)
