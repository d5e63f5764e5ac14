"""tag, untag, save, load and history on the CLI: archives round-trip with the
same image id and run, and bad or malicious archives are one error line that
stores nothing."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from husk.testing import HUSK

IMAGE = "localhost/busybox:latest"


def _image_id(husk, name: str = "busybox") -> str:
    return husk("image", "inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()


def test_tag_and_untag(husk):
    image_id = _image_id(husk)
    assert husk("tag", "busybox", "mine:1", "quay.io/x/y").returncode == 0
    rows = husk("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True).stdout.split("\n")
    assert sorted(filter(None, rows)) == sorted(f"{n} {image_id[:12]}" for n in
                                                (IMAGE, "localhost/mine:1", "quay.io/x/y:latest"))
    assert husk("run", "--rm", "mine:1", "echo", "tagged", check=True).stdout == "tagged\n"
    assert husk("image", "untag", "busybox", "mine:1").returncode == 0
    assert husk("image", "exists", "mine:1").returncode == 1
    missing = husk("untag", "busybox", "mine:1")
    assert (missing.returncode, missing.stderr) == (125, "Error: localhost/mine:1: tag not known\n")
    assert husk("untag", "busybox").returncode == 0  # every name: the image stays, dangling
    assert husk("images", "--format", "{{.Repository}} {{.ID}}", check=True).stdout == f"<none> {image_id[:12]}\n"
    bad = husk("tag", image_id, "Upper")
    assert bad.returncode == 125 and bad.stderr.startswith("Error: invalid reference format")
    unknown = husk("tag", "nosuch", "x")
    assert (unknown.returncode, unknown.stderr) == (125, "Error: nosuch: image not known\n")


def test_rmi_of_one_of_several_names_only_untags(husk):
    image_id = _image_id(husk)
    husk("tag", "busybox", "other", check=True)
    removed = husk("rmi", "other")
    assert (removed.returncode, removed.stdout) == (0, "Untagged: localhost/other:latest\n")
    assert _image_id(husk) == image_id
    removed = husk("rmi", "busybox")  # the last name: the image goes
    assert removed.stdout == f"Untagged: {IMAGE}\nDeleted: {image_id}\n"
    assert husk("images", "-q", check=True).stdout == ""


def test_save_rmi_load_runs_with_the_same_id(husk, tmp_path):
    image_id = _image_id(husk)
    husk("tag", "busybox", "second:2", check=True)
    archive = str(tmp_path / "x.tar")
    assert husk("save", "-o", archive, "busybox", "second:2", check=True).stdout == ""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        names = tar.getnames()
    assert manifest == [{"Config": f"{image_id}.json", "RepoTags": [IMAGE, "localhost/second:2"],
                         "Layers": manifest[0]["Layers"]}]
    assert set(names) == {"manifest.json", "repositories", f"{image_id}.json", *manifest[0]["Layers"]}
    husk("rmi", image_id, check=True)
    assert husk("images", "-q", check=True).stdout == ""
    loaded = husk("load", "-i", archive, check=True)
    assert loaded.stdout == f"Loaded image: {IMAGE}\nLoaded image: localhost/second:2\n"
    assert _image_id(husk) == image_id
    assert husk("run", "--rm", "second:2", "echo", "from the archive", check=True).stdout == "from the archive\n"
    # stdout | stdin; a second load of the same image keeps its names
    saved = husk("save", "busybox", input=b"")
    assert saved.returncode == 0 and saved.stdout[257:262] == b"ustar"
    again = husk("image", "load", input=saved.stdout)
    assert (again.returncode, again.stdout) == (0, f"Loaded image: {IMAGE}\n".encode())
    assert _image_id(husk, "second:2") == image_id
    history = husk("history", "--format", "json", "busybox", check=True).stdout
    assert json.loads(history)[0]["id"] == image_id


def test_save_by_id_has_no_name_and_load_reports_the_id(husk):
    image_id = _image_id(husk)
    saved = husk("save", image_id[:12], input=b"")
    husk("rmi", image_id, check=True)
    loaded = husk("load", input=saved.stdout)
    assert loaded.stdout == f"Loaded image: sha256:{image_id}\n".encode()
    assert husk("images", "--format", "{{.Repository}}", check=True).stdout == "<none>\n"


def _members(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as archive:
        return {member.name for member in archive}


def test_save_o_writes_through_a_link_and_into_a_device_as_podman(husk, tmp_path):
    """podman 4.3.1's save -o writes through a symbolic link (a dangling one makes its
    target) and into /dev/stdout or a device; husk replaced the link, or the device
    node, with a regular file (a rename onto it).  push to docker-archive: and
    oci-archive: paths the same (oci-archive onto a pipe failed: 'Illegal seek')."""
    target, link, dangling = tmp_path / "target.tar", tmp_path / "link.tar", tmp_path / "dangling.tar"
    target.write_bytes(b"")
    link.symlink_to(target)
    dangling.symlink_to(tmp_path / "made.tar")
    husk("save", "-o", str(link), IMAGE, check=True)
    husk("save", "-o", str(dangling), IMAGE, check=True)
    assert link.is_symlink() and dangling.is_symlink()
    assert "manifest.json" in _members(target.read_bytes()) and "manifest.json" in _members((tmp_path / "made.tar").read_bytes())
    target.write_bytes(b"")
    piped = husk("save", "-o", "/dev/stdout", IMAGE, input=b"", check=True).stdout
    assert "manifest.json" in _members(piped)
    piped = husk("push", IMAGE, "oci-archive:/dev/stdout", input=b"", check=True).stdout
    assert "index.json" in _members(piped)
    piped = husk("push", IMAGE, "oci-archive:/dev/fd/1", input=b"", check=True).stdout  # staged in /var/tmp, not /dev/fd
    assert "index.json" in _members(piped)
    husk("push", IMAGE, f"docker-archive:{link}", check=True)
    assert link.is_symlink() and "manifest.json" in _members(target.read_bytes())


def test_save_o_writes_into_a_device_node_and_leaves_it_a_device(husk, tmp_path):
    """-o naming a character device writes into it (podman 4.3.1 does); husk renamed
    a regular file over the node.  A node of our own with /dev/null's numbers, so
    the real /dev/null is never at stake."""
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o20666, os.makedev(1, 3))
        with open(device, "wb"):
            pass
    except OSError as exc:
        pytest.skip(f"this file system has no usable device nodes (mknod or open: {exc})")
    husk("save", "-o", str(device), IMAGE, check=True)
    assert device.is_char_device()


def test_save_o_never_replaces_a_file_that_is_not_empty_through_a_link(husk, tmp_path):
    """A link planted at the -o path (`/tmp/out.tar` -> `/etc/shadow`) must not make
    husk, as root, replace the file it names: podman refuses a regular file that is
    not empty; husk did replace the link's target whole.  A regular file named
    directly is still replaced; a failed write through a dangling link leaves no file."""
    precious, link = tmp_path / "precious", tmp_path / "out.tar"
    precious.write_bytes(b"keep me")
    link.symlink_to(precious)
    for argv in (("save", "-o", str(link), IMAGE), ("push", IMAGE, f"docker-archive:{link}"),
                 ("push", IMAGE, f"oci-archive:{link}")):
        result = husk(*argv)
        assert result.returncode == 125 and "not empty through a symbolic link" in result.stderr, (argv, result.stderr)
        assert result.stderr.count("\n") == 1 and precious.read_bytes() == b"keep me" and link.is_symlink()
    with open(precious, "ab") as appended:  # `save -o /dev/stdout >> precious`: podman refuses it too
        result = subprocess.run([HUSK, *husk.global_args, "save", "-o", "/dev/stdout", IMAGE], stdout=appended,
                                stderr=subprocess.PIPE, env=husk.env(), timeout=60)
    assert result.returncode == 125 and precious.read_bytes() == b"keep me", result.stderr
    plain = tmp_path / "plain.tar"
    plain.write_bytes(b"old")
    husk("save", "-o", str(plain), IMAGE, check=True)
    assert "manifest.json" in _members(plain.read_bytes())
    dangling = tmp_path / "dangling.tar"
    dangling.symlink_to(tmp_path / "never.tar")
    husk.extra_env["HUSK_FAULT"] = "save.archive.after:enospc"
    try:
        assert husk("save", "-o", str(dangling), IMAGE).returncode == 125
    finally:
        del husk.extra_env["HUSK_FAULT"]
    assert not (tmp_path / "never.tar").exists() and dangling.is_symlink()


def test_save_refuses_a_terminal_and_unknown_images(husk, tmp_path):
    import pty
    import subprocess

    from husk.testing import HUSK

    leader, follower = pty.openpty()
    try:
        result = subprocess.run([HUSK, *husk.global_args, "save", "busybox"], stdout=follower,
                                stderr=subprocess.PIPE, timeout=30, env=husk.env())
    finally:
        os.close(follower)
        os.close(leader)
    assert (result.returncode, result.stderr) == (125, b"Error: refusing to save to terminal. "
                                                       b"Use -o flag or redirect\n")
    target = tmp_path / "none.tar"
    unknown = husk("save", "-o", str(target), "busybox", "nosuch")
    assert (unknown.returncode, unknown.stderr) == (125, "Error: nosuch: image not known\n")
    assert os.listdir(tmp_path) == []  # no half archive left behind


# -- bad archives ---------------------------------------------------------------------------
def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out.getvalue()


def _archive(layer: bytes, layer_path: str = "l.tar", diff_id: str | None = None, extra=None, links=None,
             config_fields=None) -> bytes:
    import hashlib

    diff_id = diff_id or "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                         **(config_fields or {})}).encode()
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["evil:1"], "Layers": [layer_path]}]).encode()
    return _tar({"c.json": config, "manifest.json": manifest, "l.tar": layer, **(extra or {})}, links)


def bad_archives() -> dict[str, tuple[bytes, str]]:
    """name -> (archive, the error line's tail)."""
    escaping_layer = _tar({"../../escaped": b"x"})
    good_layer = _tar({"etc/hello": b"hi\n"})
    good = _archive(good_layer)
    return {
        "not a tar": (b"garbage" * 100, "invalid image archive: not a tar archive"),
        "no manifest": (_tar({"x": b"1"}), "invalid image archive: no manifest.json"),
        "missing layer": (_archive(good_layer, layer_path="nope.tar"), "'nope.tar' is named in manifest.json but "
                          "is not in the archive"),
        "bad json": (_tar({"manifest.json": b"[{"}), "invalid image archive: manifest.json: "),
        "wrong shape": (_tar({"manifest.json": b'{"Config": 1}'}), "invalid image archive: manifest.json: "),
        "empty manifest": (_tar({"manifest.json": b"[]"}), "manifest.json lists no image"),
        "dotdot member": (_archive(good_layer, extra={"../evil": b"x"}), "member '../evil' points outside"),
        "dotdot layer path": (_archive(good_layer, layer_path="../../etc/passwd"),
                              "path '../../etc/passwd' points outside the archive"),
        "absolute layer path": (_archive(good_layer, layer_path="/etc/passwd"), "points outside the archive"),
        "symlink out": (_archive(good_layer, layer_path="s.tar", links={"s.tar": "../../etc/shadow"}),
                        "symlink '../../etc/shadow' points outside the archive"),
        "escaping layer": (_archive(escaping_layer), "escapes the layer"),
        "digest mismatch": (_archive(good_layer, diff_id="sha256:" + "0" * 64), "the config says sha256:000"),
        "diff_id a path": (_archive(good_layer, diff_id="/srv/victim"), "invalid diff_id '/srv/victim'"),
        "diff_id climbing": (_archive(good_layer, diff_id="sha256:../" + "0" * 61), "invalid diff_id 'sha256:../"),
        "truncated": (good[: len(good) // 2], "invalid image archive: "),
        # build extends the history: a malformed one failed it with an internal error
        "history a string": (_archive(good_layer, config_fields={"history": "junk"}), "at `$.history`"),
        "history entry a number": (_archive(good_layer, config_fields={"history": [1]}), "at `$.history[0]`"),
    }


@pytest.mark.parametrize("case", sorted(bad_archives()))
def test_bad_archives_are_one_error_and_store_nothing(husk, case):
    data, message = bad_archives()[case]
    listing = ("images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}")
    before = husk(*listing, check=True).stdout
    layers = sorted(os.listdir(os.path.join(husk.root, "layers")))
    result = husk("load", input=data)
    stderr = result.stderr.decode()
    assert result.returncode == 125, stderr
    assert stderr.startswith("Error: invalid ") and message in stderr and stderr.count("\n") == 1, stderr
    assert husk(*listing, check=True).stdout == before
    assert sorted(os.listdir(os.path.join(husk.root, "layers"))) == layers
    assert not os.path.exists("/escaped") and husk("image", "exists", "evil:1").returncode == 1


PODMAN = shutil.which("podman")


@pytest.mark.skipif(PODMAN is None, reason="podman (the reference) is not installed here")
def test_podman_loads_husk_archives_and_husk_loads_podmans(husk, tmp_path, busybox_tar):
    """The format is podman's docker-archive both ways: podman's layout (a
    `<v1id>/layer.tar` symlink to the layer, `json`, `VERSION`) loads here, and
    podman loads husk's; the image id is the same on both sides."""
    import subprocess

    import tempfile

    runroot = tempfile.mkdtemp(prefix="hpr-")  # podman refuses a runroot longer than 50 characters
    podman = [PODMAN, "--root", str(tmp_path / "proot"), "--runroot", runroot, "--storage-driver", "vfs"]
    try:
        _podman_round_trip(husk, tmp_path, busybox_tar, podman)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def _podman_round_trip(husk, tmp_path, busybox_tar, podman):
    import subprocess

    imported = subprocess.run([*podman, "import", busybox_tar, "pbox:1"], capture_output=True, text=True,
                              timeout=120)
    assert imported.returncode == 0, imported.stderr
    podman_id = subprocess.run([*podman, "image", "inspect", "--format", "{{.Id}}", "pbox:1"], check=True,
                               capture_output=True, text=True, timeout=60).stdout.strip()
    subprocess.run([*podman, "save", "--format", "docker-archive", "-o", str(tmp_path / "p.tar"), "pbox:1"],
                   check=True, capture_output=True, timeout=120)
    with tarfile.open(tmp_path / "p.tar") as tar:
        assert any(member.issym() for member in tar.getmembers())  # the layout with a symlinked layer
    assert husk("load", "-i", str(tmp_path / "p.tar"), check=True).stdout == "Loaded image: localhost/pbox:1\n"
    assert _image_id(husk, "pbox:1") == podman_id
    theirs = json.loads(subprocess.run([*podman, "image", "inspect", "pbox:1"], check=True, capture_output=True,
                                       text=True, timeout=60).stdout)[0]
    mine = json.loads(husk("image", "inspect", "pbox:1", check=True).stdout)[0]
    assert set(theirs) - set(mine) == set()  # every field of podman's image inspect
    for field in ("Id", "Parent", "Comment", "Version", "Author", "Architecture", "Os", "User", "ManifestType"):
        assert mine[field] == theirs[field], field
    assert [entry.get("created_by") for entry in mine["History"]] == [
        entry.get("created_by") for entry in theirs["History"]]
    assert husk("run", "--rm", "pbox:1", "echo", "from podman", check=True).stdout == "from podman\n"

    husk("save", "-o", str(tmp_path / "h.tar"), "busybox", check=True)
    loaded = subprocess.run([*podman, "load", "-i", str(tmp_path / "h.tar")], capture_output=True, text=True,
                            timeout=120)
    assert loaded.returncode == 0 and f"Loaded image: {IMAGE}" in loaded.stdout, loaded.stderr
    inspected = subprocess.run([*podman, "image", "inspect", "--format", "{{.Id}}", IMAGE], check=True,
                               capture_output=True, text=True, timeout=60).stdout.strip()
    assert inspected == _image_id(husk)
