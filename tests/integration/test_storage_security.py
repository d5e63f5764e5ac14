"""Storage and archives as a door (issue 10): private roots that no other host
user can walk into, archives whose ids are checked and whose layers are
hashed before anything is trusted, image references held to the OCI grammar,
`--change`/env values refused at the door, and the mount of a killed export
released by whoever comes next."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import tarfile

import pytest

from husk.storage.rootfs import is_mounted
from husk.testing import build_tar

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _id(husk, name: str) -> str:
    return husk("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()


def _reachable_by_nobody(paths: list[str]) -> list[str]:
    """The paths an unprivileged host user can stat (none should be)."""
    script = 'for p; do stat "$p" >/dev/null 2>&1 && echo "$p"; done; true'
    result = subprocess.run([*NOBODY, "sh", "-c", script, "sh", *paths], capture_output=True, text=True,
                            check=True)
    return result.stdout.split()


@pytest.fixture
def open_parent(husk_rt):
    """The roots' parent opened (0755), as /var/lib and /run are: only husk's own
    modes can keep other users out."""
    os.chmod(os.path.dirname(husk_rt.root), 0o755)
    return husk_rt


def test_no_other_user_reaches_a_container_in_any_state(open_parent):
    husk = open_parent
    husk("create", "--name", "c", "--user", "1000", "busybox", "sh", "-c",
         "echo hi > /tmp/mine; ls / >/dev/null && echo ran; sleep 30", check=True)
    cid = _id(husk, "c")
    container = os.path.join(husk.root, "containers", cid)
    layer = os.path.join(husk.root, "layers", os.listdir(os.path.join(husk.root, "layers"))[0])
    targets = [os.path.join(container, name) for name in ("merged", "merged/bin/sh", "upper", "upper/tmp")]
    targets += [layer, os.path.join(layer, "diff/bin/sh"), os.path.join(husk.runroot, "containers", cid),
                os.path.join(husk.root, "state")]

    def check(when: str) -> None:
        assert _reachable_by_nobody(targets) == [], when

    check("configured")
    husk("init", "c", check=True)
    check("created")
    husk("start", "c", check=True)
    assert os.path.exists(os.path.join(container, "merged/bin/sh"))
    check("running")
    merged = husk("mount", "c", check=True).stdout.strip()
    assert is_mounted(merged)
    check("running and mounted by a user")
    husk("stop", "-t", "0", "c", check=True)
    check("exited and mounted by a user")
    husk("umount", "c", check=True)
    check("exited")
    # the container's own user (1000) still reaches its / and /tmp: 0700 is only on the host's side
    run = husk("run", "--rm", "--user", "1000", "busybox", "sh", "-c", "ls / >/dev/null && touch /tmp/x && echo ok")
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr


def test_roots_left_open_are_tightened_at_start_up(husk):
    opened = [husk.root, os.path.join(husk.root, "containers"), os.path.join(husk.root, "layers"), husk.runroot]
    for path in opened:
        os.chmod(path, 0o755)
    husk("ps", check=True)
    assert {path: stat.S_IMODE(os.stat(path).st_mode) for path in opened} == {path: 0o700 for path in opened}


# -- archives -------------------------------------------------------------------------------
def _tar(members: dict[str, bytes]) -> bytes:
    return build_tar(*((tarfile.TarInfo(name), data) for name, data in members.items()))


def _archive(layer: bytes, diff_id: str, config_name: str = "c.json", tag: str = "evil:1") -> bytes:
    config = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["l.tar"]}]).encode()
    return _tar({config_name: config, "manifest.json": manifest, "l.tar": layer})


def _load_is_refused(husk, archive: bytes, message: str) -> None:
    layers = sorted(os.listdir(os.path.join(husk.root, "layers")))
    result = husk("load", input=archive)
    stderr = result.stderr.decode()
    assert result.returncode == 125, stderr
    assert stderr.startswith("Error: invalid image archive: ") and message in stderr and stderr.count("\n") == 1
    assert husk("image", "exists", "evil:1").returncode == 1
    assert sorted(os.listdir(os.path.join(husk.root, "layers"))) == layers
    assert husk("run", "--rm", "busybox", "true").returncode == 0  # the stored image is whole


def test_a_diff_id_that_is_a_host_path_is_refused(husk, tmp_path):
    victim = tmp_path / "victim"
    (victim / "diff").mkdir(parents=True)
    (victim / "diff" / "secret").write_text("host data\n")
    (victim / "layer.tar").write_bytes(b"")  # what an older husk took as "this layer is stored"
    _load_is_refused(husk, _archive(_tar({"a": b"1"}), str(victim)), f"invalid diff_id '{victim}'")
    assert sorted(os.listdir(victim)) == ["diff", "layer.tar"] and (victim / "diff" / "secret").exists()


def test_a_diff_id_that_climbs_into_another_layer_is_refused(husk):
    stored = os.listdir(os.path.join(husk.root, "layers"))[0]
    _load_is_refused(husk, _archive(_tar({"a": b"1"}), f"sha256:./{stored}"), "invalid diff_id 'sha256:./")


def test_a_layer_claiming_a_stored_layers_digest_is_hashed_and_refused(husk):
    stored = os.listdir(os.path.join(husk.root, "layers"))[0]
    _load_is_refused(husk, _archive(_tar({"bin/sh": b"not busybox"}), f"sha256:{stored}"),
                     f"the config says sha256:{stored}")


def test_a_config_whose_name_is_not_its_digest_is_refused(husk):
    layer = _tar({"a": b"1"})
    archive = _archive(layer, "sha256:" + hashlib.sha256(layer).hexdigest(), config_name="0" * 64 + ".json")
    _load_is_refused(husk, archive, "its name says " + "0" * 64)


def test_a_stored_layer_loaded_again_is_still_accepted(husk, tmp_path):
    """The check of a stored layer hashes it; a true archive of it loads."""
    husk("save", "-o", str(tmp_path / "a.tar"), "busybox", check=True)
    loaded = husk("load", "-i", str(tmp_path / "a.tar"))
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: localhost/busybox:latest\n"), loaded.stderr


# -- references -----------------------------------------------------------------------------
BAD_REFERENCES = ["localhost/foo/../../bar:latest", "x$(id)", 'a"b', "tag:with:colons", "a//b", "_a", "x:" + "t" * 129]


@pytest.mark.parametrize("reference", BAD_REFERENCES)
def test_bad_references_are_refused_everywhere(husk, tmp_path, busybox_tar, reference):
    commands = [("tag", "busybox", reference), ("rmi", reference), ("run", "--rm", reference, "true"),
                ("create", reference), ("save", "-o", str(tmp_path / "s.tar"), reference),
                ("import", busybox_tar, reference), ("image", "inspect", reference)]
    for command in commands:
        result = husk(*command)
        assert result.returncode == 125, (command, result.stderr)
        words = "Error: inspecting object: " if command[0] == "image" else "Error: "  # podman 4.3's inspect
        assert result.stderr.startswith(words + "invalid reference format") and result.stderr.count("\n") == 1, \
            (command, result.stderr)
    layer = _tar({"a": b"1"})
    archive = _archive(layer, "sha256:" + hashlib.sha256(layer).hexdigest(), tag=reference)
    loaded = husk("load", input=archive)
    assert loaded.returncode == 125 and b"invalid reference format" in loaded.stderr, loaded.stderr
    names = husk("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert names == ["localhost/busybox:latest"]


def test_good_references_still_normalise(husk):
    for reference, stored in [("mine", "localhost/mine:latest"), ("quay.io:5000/a/b-c__d.e:V1.0-x",
                                                                    "quay.io:5000/a/b-c__d.e:V1.0-x"),
                              ("a/b", "localhost/a/b:latest")]:
        husk("tag", "busybox", reference, check=True)
        assert husk("image", "exists", stored).returncode == 0, reference
    upper = husk("tag", "busybox", "Upper")
    assert upper.stderr == "Error: invalid reference format: repository name must be lowercase: 'Upper'\n"


def test_api_tag_refuses_a_bad_reference(api_crun):
    for repo in ("x%24(id)", "a%22b", "localhost/foo/../../bar"):
        status, _, body = api_crun.request("POST", f"/images/busybox/tag?repo={repo}")
        assert status == 400 and body["message"].startswith("invalid reference format"), (repo, body)
    status, _, body = api_crun.request("POST", "/images/busybox/tag?repo=x&tag=with:colons")
    assert status == 400 and body["message"].startswith("invalid reference format"), body


# -- changes and environment ----------------------------------------------------------------
def test_import_refuses_a_relative_workdir_and_chains_one(husk, busybox_tar):
    relative = husk("import", "--change", "WORKDIR=relative/dir", busybox_tar, "rel")
    assert (relative.returncode, relative.stderr) == (
        125, "Error: invalid change 'WORKDIR=relative/dir': WORKDIR must be an absolute path\n")
    assert husk("image", "exists", "rel").returncode == 1
    husk("import", "--change", "WORKDIR=/srv", "--change", "WORKDIR=app", busybox_tar, "chained", check=True)
    assert husk("run", "--rm", "chained", "pwd", check=True).stdout == "/srv/app\n"


def test_an_env_value_with_a_nul_byte_is_refused(api_crun, tmp_path, busybox_tar):
    """A shell cannot pass a NUL in an argument: --env-file, the API's Env and an
    import's changes can."""
    husk = api_crun.env
    env_file = tmp_path / "env"
    env_file.write_bytes(b"A=b\0c\n")
    created = husk("create", "--env-file", str(env_file), "busybox", "true")
    assert (created.returncode, created.stderr) == (
        125, "Error: invalid environment variable 'A=b\\x00c': it contains a NUL byte\n")
    status, _, body = api_crun.request("POST", "/containers/create", {"Image": "busybox", "Env": ["A=b\0c"]})
    assert status == 400 and "contains a NUL byte" in body["message"], body
    with open(busybox_tar, "rb") as tar:
        status, _, body = api_crun.request("POST", "/images/create?fromSrc=-&repo=nul&changes=ENV%20A%3Db%00c",
                                           tar.read(), {"Content-Type": "application/x-tar"})
    assert status == 400 and "contains a NUL byte" in body["message"], body
    husk("run", "-d", "--name", "r", "busybox", "sleep", "30", check=True)
    execed = husk("exec", "--env-file", str(env_file), "r", "true")
    assert execed.returncode == 125 and "contains a NUL byte" in execed.stderr, execed.stderr
    assert husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout == "r\n"


# -- a killed export ------------------------------------------------------------------------
def test_a_killed_export_leaves_no_mount_behind(husk_rt):
    husk = husk_rt
    husk("create", "--name", "e", "busybox", check=True)
    merged = os.path.join(husk.root, "containers", _id(husk, "e"), "merged")
    export = husk.popen("export", "e", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert len(export.stdout.read(4096)) == 4096  # streaming, and blocked on the full pipe
    assert is_mounted(merged)
    export.send_signal(signal.SIGKILL)
    export.wait()
    export.stdout.close()  # the orphaned tar gets EPIPE and ends
    assert is_mounted(merged)
    husk("ps", "-a", check=True)  # whoever runs next releases it
    assert not is_mounted(merged)
    assert husk("export", "-o", os.devnull, "e").returncode == 0 and not is_mounted(merged)


def test_sync_releases_a_killed_exports_mount(husk):
    husk("run", "--name", "s", "busybox", "true", check=True)
    merged = os.path.join(husk.root, "containers", _id(husk, "s"), "merged")
    export = husk.popen("export", "s", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    export.stdout.read(4096)
    export.send_signal(signal.SIGKILL)
    export.wait()
    export.stdout.close()
    assert is_mounted(merged)
    assert husk("container", "sync", "s").returncode == 0
    assert not is_mounted(merged)
