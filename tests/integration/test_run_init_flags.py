"""run/create flags of issue 12 for systemd and the image's shape, on runc and
crun: --systemd, --sdnotify, --cgroups, --chrootdirs, --image-volume."""

from __future__ import annotations

import json
import os
import socket

IMAGE = "busybox"
INIT = "/usr/local/sbin/init"  # a command --systemd=true takes for systemd (podman's list)


def _image(husk) -> str:
    """busybox with an `init` that lists its mounts, a chroot at /jail, and VOLUME /data."""
    husk("run", "--name", "base", IMAGE, "sh", "-c",
         f"mkdir -p /usr/local/sbin /jail/etc && printf '#!/bin/sh\\nmount\\necho container=$container\\n' > {INIT}"
         f" && chmod 755 {INIT}", check=True)
    husk("commit", "-q", "--change", "VOLUME /data", "base", "shaped:1", check=True)
    husk("rm", "base", check=True)
    return "shaped:1"


def _tmpfs_on(mounts: str) -> set[str]:
    return {line.split()[2] for line in mounts.splitlines() if line.startswith("tmpfs on ")}


def _signal(husk, name: str) -> str:
    return husk("inspect", "-f", "{{.Config.StopSignal}}", name, check=True).stdout.strip()


def test_systemd_mounts_and_stop_signal_as_podman(husk_rt):
    image = _image(husk_rt)
    systemd = {"/run", "/run/lock", "/tmp", "/var/log/journal"}
    as_init = husk_rt("run", "--rm", image, INIT)  # --systemd=true is the default
    assert as_init.returncode == 0, as_init.stderr
    assert systemd <= _tmpfs_on(as_init.stdout) and "container=podman\n" in as_init.stdout
    plain = husk_rt("run", "--rm", image, "sh", "-c", "mount; echo container=$container", check=True).stdout
    assert "/var/log/journal" not in _tmpfs_on(plain) and "container=husk\n" in plain
    never = husk_rt("run", "--rm", "--systemd=false", image, INIT, check=True).stdout
    assert "/var/log/journal" not in _tmpfs_on(never)
    always = husk_rt("run", "--rm", "--systemd", "always", image, "sh", "-c", "mount", check=True).stdout
    assert systemd <= _tmpfs_on(always)
    husk_rt("create", "--name", "sd", image, INIT, check=True)
    husk_rt("create", "--name", "sd-told", "--stop-signal", "SIGTERM", image, INIT, check=True)
    husk_rt("create", "--name", "not-sd", image, "sh", check=True)
    assert [_signal(husk_rt, n) for n in ("sd", "sd-told", "not-sd")] == ["37", "15", "15"]  # podman 4.3 prints the number
    husk_rt("rm", "sd", "sd-told", "not-sd", check=True)
    bad = husk_rt("create", "--systemd", "maybe", IMAGE, "true")
    assert bad.returncode == 125 and "invalid --systemd value 'maybe'" in bad.stderr


def test_sdnotify_conmon_container_and_ignore(husk_rt, tmp_path):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.setblocking(False)
        husk_rt.extra_env["NOTIFY_SOCKET"] = path
        try:
            husk_rt("run", "-d", "--name", "told", IMAGE, "sleep", "1000", check=True)
            monitor = husk_rt("inspect", "-f", "{{.State.ConmonPid}}", "told", check=True).stdout.strip()
            assert listener.recv(4096).decode() == f"MAINPID={monitor}\nREADY=1\n"
            husk_rt("run", "-d", "--name", "quiet", "--sdnotify", "ignore", IMAGE, "sleep", "1000", check=True)
            inside = husk_rt("run", "--rm", "--sdnotify=container", IMAGE, "sh", "-c",
                             "echo $NOTIFY_SOCKET; ls -l /run/notify/notify.sock", check=True).stdout
        finally:
            del husk_rt.extra_env["NOTIFY_SOCKET"]
        try:
            unexpected = listener.recv(4096)  # neither ignore nor container mode sent anything
        except BlockingIOError:
            unexpected = b""
    assert unexpected == b""
    assert inside.startswith("/run/notify/notify.sock\ns")
    husk_rt("rm", "-f", "-t", "0", "told", "quiet", check=True)
    bad = husk_rt("create", "--sdnotify", "systemd", IMAGE, "true")
    assert bad.returncode == 125 and "invalid --sdnotify value" in bad.stderr


def test_cgroups_disabled_on_crun_and_refused_on_runc(husk_rt):
    run = husk_rt("run", "--rm", "--cgroups=disabled", IMAGE, "cat", "/proc/self/cgroup")
    if husk_rt.runtime_name == "runc":
        assert run.returncode == 125 and "--cgroups=disabled needs crun" in run.stderr
    else:
        assert run.returncode == 0, run.stderr
        with open("/proc/self/cgroup") as mine:  # the caller's cgroups, not a container's of its own
            assert {line.split(":", 2)[2] for line in run.stdout.splitlines()} <= {
                line.split(":", 2)[2] for line in mine.read().splitlines()}
    for mode in ("enabled", "no-conmon", "split"):
        out = husk_rt("run", "--rm", f"--cgroups={mode}", IMAGE, "cat", "/proc/self/cgroup", check=True).stdout
        assert "/husk/" in out or out.strip().endswith("::/")  # its own cgroup (v1 path, or v2's namespace root)
    bad = husk_rt("create", "--cgroups", "off", IMAGE, "true")
    assert bad.returncode == 125 and "invalid --cgroups value 'off'" in bad.stderr


def test_chrootdirs_get_the_containers_hosts_and_resolv_conf(husk_rt):
    image = _image(husk_rt)
    out = husk_rt("run", "--rm", "--chrootdirs", "/jail", "--chrootdirs", "/nowhere", "--hostname", "jailed", image,
                  "sh", "-c", "cmp /etc/hosts /jail/etc/hosts && cmp /etc/resolv.conf /jail/etc/resolv.conf "
                  "&& grep jailed /jail/etc/hosts && ls /nowhere 2>&1")
    assert out.returncode == 1, out.stderr  # ls: /nowhere does not exist: nothing was made there
    assert "jailed" in out.stdout and "No such file" in out.stdout
    bad = husk_rt("create", "--chrootdirs", "jail", IMAGE, "true")
    assert bad.returncode == 125 and "must be an absolute path" in bad.stderr


def test_image_volume_bind_tmpfs_and_ignore(husk_rt):
    image = _image(husk_rt)
    volumes = lambda: husk_rt("volume", "ls", "-q", check=True).stdout.split()  # noqa: E731
    husk_rt("create", "--name", "bound", image, "true", check=True)
    mounts = json.loads(husk_rt("inspect", "-f", "{{json .Mounts}}", "bound", check=True).stdout)
    assert [(m["Type"], m["Destination"]) for m in mounts] == [("volume", "/data")] and len(volumes()) == 1
    husk_rt("rm", "-v", "bound", check=True)
    tmpfs = husk_rt("run", "--rm", "--image-volume", "tmpfs", image, "mount", check=True).stdout
    assert "/data" in _tmpfs_on(tmpfs)
    ignored = husk_rt("run", "--rm", "--image-volume=ignore", image, "mount", check=True).stdout
    assert " /data " not in ignored
    assert volumes() == []
    bad = husk_rt("create", "--image-volume", "nfs", image, "true")
    assert bad.returncode == 125 and "invalid image volume type 'nfs'" in bad.stderr
    assert os.path.exists(husk_rt.root)


def test_rootfs_runs_a_directory_in_place_or_under_an_overlay(husk_rt, busybox_tar, tmp_path):
    """--rootfs DIR (podman's): the container writes into DIR; DIR:O keeps it unchanged."""
    import subprocess

    tree = tmp_path / "tree"
    tree.mkdir()
    subprocess.run(["tar", "-xf", busybox_tar, "-C", str(tree)], check=True)
    written = husk_rt("run", "--rm", "--rootfs", str(tree), "sh", "-c", "echo hi > /written; cat /etc/hostname")
    assert written.returncode == 0, written.stderr
    assert (tree / "written").read_text() == "hi\n"
    over = husk_rt("run", "--rm", "--rootfs", f"{tree}:O", "sh", "-c", "echo x > /over; cat /written")
    assert (over.returncode, over.stdout) == (0, "hi\n"), over.stderr
    assert not (tree / "over").exists()
    husk_rt("create", "--name", "dir", "--rootfs", str(tree), "cat", "/written", check=True)
    assert husk_rt("inspect", "-f", "{{.ImageName}}|{{.Image}}", "dir", check=True).stdout == f"{tree}|\n"
    assert husk_rt("start", "-a", "dir", check=True).stdout == "hi\n"
    assert husk_rt("ps", "-a", "--format", "{{.Image}}", check=True).stdout == f"{tree}\n"
    refused = husk_rt("commit", "dir", "dirimage")
    assert refused.returncode == 125 and "it runs a --rootfs directory" in refused.stderr
    husk_rt("rm", "dir", check=True)
    assert (tree / "written").exists()  # rm leaves the directory as it is
    missing = husk_rt("run", "--rm", "--rootfs", str(tmp_path / "none"), "true")
    assert missing.returncode == 125 and "is not a directory" in missing.stderr
