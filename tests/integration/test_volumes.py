"""Volumes end to end on real runtimes: named and anonymous volumes, copy-up,
sharing, --volumes-from, use counts across a killed monitor, the verbs, and a
volume driver from a plugin (husk_register_volume_drivers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import tarfile
import time

import pytest


def _inspect(husk, name: str) -> dict:
    result = husk("volume", "inspect", name, check=True)
    return json.loads(result.stdout)[0]


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as mountinfo:
        return any(line.split()[4] == path for line in mountinfo)


def test_volume_outlives_its_container_and_is_shared(husk_rt):
    husk = husk_rt
    husk("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f", check=True)
    assert _inspect(husk, "data")["MountCount"] == 0
    assert husk("run", "--rm", "-v", "data:/srv:ro", "busybox", "cat", "/srv/f", check=True).stdout == "kept\n"
    husk("run", "-d", "--name", "a", "-v", "data:/data", "busybox", "sleep", "100", check=True)
    husk("run", "-d", "--name", "b", "-v", "data:/data", "busybox", "sleep", "100", check=True)
    assert _inspect(husk, "data")["MountCount"] == 2
    husk("exec", "a", "sh", "-c", "echo from-a > /data/g", check=True)
    assert husk("exec", "b", "cat", "/data/g", check=True).stdout == "from-a\n"
    refused = husk("run", "--rm", "-v", "data:/data:ro", "busybox", "sh", "-c", "echo x > /data/h")
    assert refused.returncode == 1 and "Read-only" in refused.stderr
    husk("stop", "-t", "0", "a", "b", check=True)
    assert _inspect(husk, "data")["MountCount"] == 0


def test_copy_up_anonymous_volumes_and_rm_v(husk_rt):
    husk = husk_rt
    out = husk("run", "--name", "c", "-v", "etc:/etc", "-v", "/scratch", "busybox", "ls", "/etc", check=True).stdout
    assert "passwd" in out.split()
    volume = _inspect(husk, "etc")
    assert "NeedsCopyUp" not in volume and os.path.exists(os.path.join(volume["Mountpoint"], "passwd"))
    names = husk("volume", "ls", "-q", check=True).stdout.split()
    anonymous = [n for n in names if n != "etc"]
    assert len(anonymous) == 1 and len(anonymous[0]) == 64 and _inspect(husk, anonymous[0])["Anonymous"]
    # nocopy: a new volume stays empty
    listed = husk("run", "--rm", "-v", "empty:/etc:nocopy", "busybox", "/bin/ls", "/etc", check=True).stdout
    assert "passwd" not in listed.split()  # only the files husk itself binds there
    husk("rm", "-v", "c", check=True)
    assert sorted(husk("volume", "ls", "-q", check=True).stdout.split()) == ["empty", "etc"]


def test_mount_type_volume_and_rm_takes_anonymous_volumes(husk_rt):
    husk = husk_rt
    out = husk("run", "--rm", "--mount", "type=volume,src=mv,dst=/data,ro", "--mount", "type=volume,dst=/anon",
               "busybox", "sh", "-c", "grep -E ' /(data|anon) ' /proc/mounts | cut -d' ' -f2,4", check=True).stdout
    assert [line.split(",")[0] for line in out.splitlines()] == ["/data ro", "/anon rw"]
    assert husk("volume", "ls", "-q", check=True).stdout == "mv\n"  # --rm took the anonymous one
    bad = husk("run", "--rm", "--mount", "type=volume,src=mv,dst=/d,bogus=1", "busybox", "true")
    assert bad.returncode == 125 and "bogus" in bad.stderr


def test_image_volume_entries_get_anonymous_volumes(husk, busybox_tar):
    husk("import", "--change", "VOLUME /data", "--change", 'CMD ["sh"]', busybox_tar, "localhost/withvol", check=True)
    husk("run", "--name", "v", "withvol", "sh", "-c", "grep ' /data ' /proc/mounts", check=True)
    (name,) = husk("volume", "ls", "-q", check=True).stdout.split()
    assert _inspect(husk, name)["Anonymous"]
    assert husk("volume", "rm", name).returncode == 2  # the container still uses it
    husk("rm", "-v", "v", check=True)
    assert husk("volume", "ls", "-q", check=True).stdout == ""


def test_volumes_from(husk_rt):
    husk = husk_rt
    husk("create", "--name", "src", "-v", "shared:/shared", "busybox", "true", check=True)
    husk("run", "--rm", "-v", "shared:/shared", "busybox", "sh", "-c", "echo s > /shared/f", check=True)
    assert husk("run", "--rm", "--volumes-from", "src", "busybox", "cat", "/shared/f",
                check=True).stdout == "s\n"
    refused = husk("run", "--rm", "--volumes-from", "src:ro", "busybox", "sh", "-c", "echo x > /shared/f")
    assert refused.returncode == 1 and "Read-only" in refused.stderr
    assert husk("run", "--rm", "--volumes-from", "nosuch", "busybox", "true").returncode == 125


def test_use_count_and_tmpfs_mount_after_kill_9_of_the_monitor(husk_rt):
    husk = husk_rt
    husk("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m,uid=1000",
         "tv", check=True)
    path = _inspect(husk, "tv")["Mountpoint"]
    assert not _mounted(path)
    husk("run", "-d", "--name", "k", "-v", "tv:/data", "busybox", "sleep", "100", check=True)
    assert _mounted(path) and _inspect(husk, "tv")["MountCount"] == 1
    assert husk("exec", "k", "stat", "-c", "%u", "/data", check=True).stdout == "1000\n"
    document = json.loads(husk("inspect", "k", check=True).stdout)[0]
    os.kill(document["State"]["ConmonPid"], signal.SIGKILL)
    os.kill(document["State"]["Pid"], signal.SIGKILL)
    time.sleep(0.5)
    husk("ps", "-a", check=True)  # the sync finds the monitor gone and cleans up
    assert _inspect(husk, "tv")["MountCount"] == 0
    assert not _mounted(path)
    husk("start", "k", check=True)  # and it can be mounted again
    assert _mounted(path) and _inspect(husk, "tv")["MountCount"] == 1


def test_stale_user_of_a_killed_cli_is_dropped(husk):
    """A user whose container holds no mount (a CLI killed between mounting the
    volume and saving the container) is dropped at the next change."""
    runtime = husk.runtime()
    runtime.volumes.create("st")
    husk("create", "--name", "ghost", "-v", "st:/x", "busybox", "true", check=True)
    ghost = runtime.container("ghost").id
    runtime.volumes.acquire(ghost, ["st"])  # as if killed before the container's save
    assert _inspect(husk, "st")["MountCount"] == 1
    husk("run", "--rm", "-v", "st:/x", "busybox", "true", check=True)
    assert _inspect(husk, "st")["MountCount"] == 0


def test_verbs_messages_and_exit_codes(husk):
    assert husk("volume", "create", "--label", "a=b", "one", check=True).stdout == "one\n"
    husk("volume", "create", "two", check=True)
    dup = husk("volume", "create", "one")
    assert dup.returncode == 125
    assert dup.stderr == "Error: volume with name one already exists: volume already exists\n"
    assert husk("volume", "create", "--ignore", "one", check=True).stdout == "one\n"
    assert husk("volume", "ls", check=True).stdout.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert husk("volume", "ls", "-q", "--filter", "label=a=b", check=True).stdout == "one\n"
    assert husk("volume", "ls", "--format", "{{.Name}}:{{.Driver}}", "--filter", "name=tw",
                check=True).stdout == "two:local\n"
    missing = husk("volume", "inspect", "nope")
    assert missing.returncode == 125 and "no such volume nope" in missing.stderr
    assert husk("volume", "exists", "one").returncode == 0 and husk("volume", "exists", "nope").returncode == 1
    gone = husk("volume", "rm", "nope")
    assert gone.returncode == 1 and gone.stderr == 'Error: no volume with name "nope" found: no such volume\n'
    bad = husk("volume", "create", "--opt", "foo=bar", "bad")
    assert bad.returncode == 125 and "invalid mount option foo for driver 'local'" in bad.stderr
    husk("create", "--name", "user", "-v", "one:/one", "busybox", "true", check=True)
    in_use = husk("volume", "rm", "one")
    assert in_use.returncode == 2 and "volume one is being used by the following container(s)" in in_use.stderr
    assert husk("volume", "prune", "-f", check=True).stdout == "two\n"
    assert husk("volume", "rm", "-f", "one", check=True).stdout == "one\n"
    assert husk("ps", "-aq").stdout == ""  # -f removed its container first
    events = husk("events", "--stream=false", "--filter", "type=volume", check=True).stdout.splitlines()
    assert [line.split()[-3:] for line in events] == [
        ["volume", "create", "one"], ["volume", "create", "two"], ["volume", "remove", "two"],
        ["volume", "remove", "one"]]


def test_uid_gid_export_import_mount(husk, tmp_path):
    husk("volume", "create", "--opt", "o=uid=1000,gid=1001", "owned", check=True)
    document = _inspect(husk, "owned")
    assert (document["UID"], document["GID"]) == (1000, 1001)
    st = os.stat(document["Mountpoint"])
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    husk("run", "--rm", "-v", "owned:/o", "busybox", "sh", "-c", "echo e > /o/e", check=True)
    archive = tmp_path / "o.tar"
    husk("volume", "export", "-o", str(archive), "owned", check=True)
    husk("volume", "create", "copy", check=True)
    husk("volume", "import", "copy", str(archive), check=True)
    assert open(os.path.join(_inspect(husk, "copy")["Mountpoint"], "e")).read() == "e\n"
    assert husk("volume", "mount", "copy", check=True).stdout.strip() == _inspect(husk, "copy")["Mountpoint"]
    assert _inspect(husk, "copy")["MountCount"] == 1
    husk("volume", "unmount", "copy", check=True)
    assert _inspect(husk, "copy")["MountCount"] == 0


@pytest.mark.parametrize("name", ["../x", "/", "..", "a/b", "-x", ".hidden", "x" * 256])
def test_hostile_volume_names_are_refused(husk, name):
    result = husk("volume", "create", "--", name)
    assert result.returncode == 125
    assert result.stderr == ("Error: running volume create option: names must match "
                             "[a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument\n")
    assert sorted(os.listdir(husk.root)) == sorted(n for n in os.listdir(husk.root) if n != "x")
    assert not os.path.exists(os.path.join(husk.root, "x"))
    assert husk("volume", "ls", "-q", check=True).stdout == ""


def test_hostile_volume_sources_in_run_are_refused(husk):
    assert "host directory cannot be empty" in husk("create", "-v", ":/x", "busybox").stderr
    assert "names must match" in husk("create", "-v", "-x:/x", "busybox").stderr
    assert husk("volume", "inspect", "").returncode == 125


DRIVER = textwrap.dedent('''
    import os
    from husk.hooks import hookimpl
    from husk.volumes.driver import VolumeDriver

    class ProbeDriver(VolumeDriver):
        name = "probe"

        def path(self, volume):
            return os.path.join(self.directory, volume.name)

        def create(self, volume):
            os.mkdir(self.path(volume))
            self._log("create", volume)

        def mount(self, volume):
            self._log("mount", volume)

        def unmount(self, volume):
            self._log("unmount", volume)

        def remove(self, volume):
            os.rmdir(self.path(volume))
            self._log("remove", volume)

        def _log(self, what, volume):
            with open(os.environ["PROBE_LOG"], "a") as log:
                log.write(what + " " + volume.name + "\\n")

    @hookimpl
    def husk_register_volume_drivers(register):
        register(ProbeDriver.name, ProbeDriver)
''')


def test_register_volume_drivers_a_plugin_driver_keeps_volumes(husk, tmp_path):
    (tmp_path / "huskvolprobe.py").write_text(DRIVER)
    log = tmp_path / "probe.log"
    husk.load_plugin(str(tmp_path), "huskvolprobe", PROBE_LOG=str(log))
    husk("volume", "create", "--driver", "probe", "pv", check=True)
    assert _inspect(husk, "pv")["Driver"] == "probe"
    husk("run", "--rm", "-v", "pv:/data", "busybox", "sh", "-c", "echo p > /data/p", check=True)
    assert open(os.path.join(husk.root, "volume-drivers", "probe", "pv", "p")).read() == "p\n"
    os.unlink(os.path.join(husk.root, "volume-drivers", "probe", "pv", "p"))
    husk("volume", "rm", "pv", check=True)
    assert log.read_text().split("\n")[:-1] == ["create pv", "mount pv", "unmount pv", "remove pv"]
    unknown = husk("volume", "create", "--driver", "nosuch", "x")
    assert unknown.returncode == 125 and "no volume plugin with name nosuch available" in unknown.stderr


def test_checkpoint_restore_with_volumes_and_ignore_volumes(husk_envs, tmp_path):
    """runc (Debian's crun has no CRIU): a restore mounts the volumes again; an
    exported archive carries their content unless --ignore-volumes, and an
    import makes them (refusing to pour content into a volume that exists)."""
    husk = husk_envs("runc")
    husk("run", "-d", "--name", "ck", "--network", "none", "-v", "data:/data", "busybox", "sh", "-c",
         "echo before > /data/f; sleep 1000", check=True)
    time.sleep(0.5)
    result = husk("container", "checkpoint", "ck")
    if result.returncode != 0 and "criu" in result.stderr.lower():
        pytest.skip(f"no checkpointing here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert _inspect(husk, "data")["MountCount"] == 0
    husk("container", "restore", "ck", check=True)
    assert _inspect(husk, "data")["MountCount"] == 1
    assert husk("exec", "ck", "cat", "/data/f", check=True).stdout == "before\n"
    full, bare = tmp_path / "full.tar", tmp_path / "bare.tar"
    husk("container", "checkpoint", "-R", "--export", str(full), "ck", check=True)
    husk("container", "checkpoint", "-R", "--export", str(bare), "--ignore-volumes", "ck", check=True)
    with tarfile.open(full) as tar:
        assert "volumes/data.tar" in tar.getnames()
    with tarfile.open(bare) as tar:
        assert not [n for n in tar.getnames() if n.startswith("volumes")]
    refused = husk("container", "restore", "--import", str(full), "--name", "copy")
    assert refused.returncode == 125 and "volume with name data already exists" in refused.stderr
    husk("container", "restore", "--import", str(full), "--name", "copy", "--ignore-volumes", check=True)
    husk("rm", "-f", "ck", "copy", check=True)
    husk("volume", "rm", "data", check=True)
    husk("container", "restore", "--import", str(full), "--name", "copy2", check=True)
    assert husk("exec", "copy2", "cat", "/data/f", check=True).stdout == "before\n"
    assert husk("container", "checkpoint", "--ignore-volumes", "copy2").returncode == 125


def test_local_bind_and_ext4_image_options_and_U(husk, tmp_path):
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    husk("volume", "create", "--opt", "type=bind", "--opt", f"device={host_dir}", "bv", check=True)
    husk("run", "--rm", "-v", "bv:/b", "busybox", "sh", "-c", "echo via-bind > /b/f", check=True)
    assert (host_dir / "f").read_text() == "via-bind\n"
    assert not _mounted(_inspect(husk, "bv")["Mountpoint"])
    image = tmp_path / "ext4.img"
    with open(image, "wb") as handle:
        handle.truncate(8 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    husk("volume", "create", "--opt", "type=ext4", "--opt", f"device={image}", "--opt", "o=loop", "ev", check=True)
    out = husk("run", "--rm", "-v", "ev:/e", "busybox", "sh", "-c", "grep ' /e ' /proc/mounts | cut -d' ' -f3",
               check=True).stdout
    assert out == "ext4\n"
    assert not _mounted(_inspect(husk, "ev")["Mountpoint"])
    owned = husk("run", "--rm", "-u", "1000:1001", "-v", "uv:/u:U", "busybox", "stat", "-c", "%u:%g", "/u",
                 check=True).stdout
    assert owned == "1000:1001\n"
