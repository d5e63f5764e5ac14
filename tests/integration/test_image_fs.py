"""image mount / unmount (read-only overlays of an image's layers, podman's
output) and image tree (podman 4.3's layout)."""

import json
import os
import re

import pytest

from husk.testing import IMAGE


@pytest.fixture
def layered(husk):
    """husk with a second image: busybox plus one committed layer; image mounts undone after."""
    husk("run", "--name", "base", "--network", "none", IMAGE, "sh", "-c", "echo layer > /added", check=True)
    husk("commit", "-q", "base", "localhost/layered:1", check=True)
    yield husk
    husk("image", "unmount", "-a")


def _is_mount_point(path: str) -> bool:
    with open("/proc/self/mountinfo") as mountinfo:
        return any(line.split()[4] == path for line in mountinfo)


def test_image_mount_and_unmount(layered):
    husk = layered
    path = husk("image", "mount", "localhost/layered:1", check=True).stdout.strip()
    assert _is_mount_point(path)
    assert husk("image", "mount", "localhost/layered:1", check=True).stdout.strip() == path  # one mount
    with open(os.path.join(path, "added")) as stream:
        assert stream.read() == "layer\n"
    assert os.path.exists(os.path.join(path, "bin", "sh"))
    with pytest.raises(OSError) as refused:
        open(os.path.join(path, "new"), "w")
    assert refused.value.strerror == "Read-only file system"
    single = husk("image", "mount", IMAGE, check=True).stdout.strip()  # one layer: an empty lower below it
    assert os.path.exists(os.path.join(single, "bin", "sh")) and not os.path.exists(os.path.join(single, "added"))
    listing = husk("image", "mount", check=True).stdout.splitlines()
    assert sorted(listing) == sorted([f"{IMAGE}  {single}", f"localhost/layered:1       {path}"])
    document = json.loads(husk("image", "mount", "--format", "json", check=True).stdout)
    assert {(d["Repositories"][0], d["mountpoint"]) for d in document} == {(IMAGE, single),
                                                                            ("localhost/layered:1", path)}
    unknown = husk("image", "unmount", "nope", "localhost/layered:1")
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (125, "", "Error: nope: image not known\n")
    assert _is_mount_point(path)  # nothing done
    layered_id = json.loads(husk("image", "inspect", "localhost/layered:1", check=True).stdout)[0]["Id"]
    assert husk("image", "umount", "localhost/layered:1", check=True).stdout == layered_id + "\n"
    assert not _is_mount_point(path)
    assert husk("image", "mount", check=True).stdout == f"{IMAGE}  {single}\n"
    assert husk("image", "mount", "nope").returncode == 125
    assert husk("image", "mount", "--format", "{{.ID}}").returncode == 125
    husk("image", "mount", "localhost/layered:1", check=True)
    husk("rm", "base", check=True)
    husk("rmi", "localhost/layered:1", check=True)  # as podman: a mounted image is unmounted and removed
    assert not _is_mount_point(path)
    assert husk("image", "unmount", "-a", check=True).stdout.split() == [
        json.loads(husk("image", "inspect", IMAGE, check=True).stdout)[0]["Id"]]
    assert not _is_mount_point(single)


def test_image_tree(layered):
    husk = layered
    layers = json.loads(husk("image", "inspect", "localhost/layered:1", check=True).stdout)[0]["RootFS"]["Layers"]
    base, top = (layer.removeprefix("sha256:")[:12] for layer in layers)
    lines = husk("image", "tree", "localhost/layered:1", check=True).stdout.splitlines()
    image_id = husk("images", "-q", "localhost/layered:1", check=True).stdout.strip()
    assert lines[:4] == [f"Image ID: {image_id}", "Tags:     [localhost/layered:1]", lines[2], "Image Layers"]
    assert lines[2].startswith("Size:     ") and lines[2].endswith("B")
    assert lines[4].startswith(f"├── ID: {base} Size: ") and lines[4].endswith(f" Top Layer of: [{IMAGE}]")
    assert lines[5].startswith(f"└── ID: {top} Size: ") and lines[5].endswith(" Top Layer of: [localhost/layered:1]")
    assert len(lines) == 6
    required = husk("image", "tree", "--whatrequires", IMAGE, check=True).stdout.splitlines()
    assert [line[:20] for line in required[4:]] == [f"├── ID: {base}", f"└── ID: {top}"]
    missing = husk("image", "tree", "nope")
    assert (missing.returncode, missing.stderr) == (125, "Error: nope: image not known\n")


def test_image_tree_whatrequires_draws_podmans_tree(husk):
    """--whatrequires draws the layers of the images built on an image as podman
    4.3 draws them (its output for the same family of images, ids masked): each
    layer's children under it, oldest image first; a base layer's beside it."""
    def commit(base: str, name: str) -> None:
        husk("run", "--name", name, "--network", "none", base, "sh", "-c", f"echo {name} > /{name}", check=True)
        husk("commit", "-q", name, f"localhost/{name}", check=True)
        husk("rm", name, check=True)

    for base, name in ((IMAGE, "child1"), ("localhost/child1", "grand1"), (IMAGE, "child2"),
                       ("localhost/child1", "grand2"), ("localhost/grand1", "ggg")):
        commit(base, name)

    def shape(name: str) -> list[str]:
        text = husk("image", "tree", "--whatrequires", name, check=True).stdout
        return [re.sub(r"ID: [0-9a-f]{12} Size: +\S+ Top Layer of: ", "", line) for line in text.splitlines()[4:]]

    assert shape(IMAGE) == [f"├── [{IMAGE}]", "├── [localhost/child1:latest]", "│   ├── [localhost/grand1:latest]",
                            "│   │   └── [localhost/ggg:latest]", "│   └── [localhost/grand2:latest]",
                            "└── [localhost/child2:latest]"]
    assert shape("localhost/child1") == ["└── [localhost/child1:latest]", "    ├── [localhost/grand1:latest]",
                                         "    │   └── [localhost/ggg:latest]", "    └── [localhost/grand2:latest]"]
    assert shape("localhost/ggg") == ["└── [localhost/ggg:latest]"]


def test_mount_type_image(husk_rt):
    """--mount type=image: the image's rootfs read-only in the container (as
    podman), or with rw=true writable through an upper of the container's own;
    the image is in use meanwhile, and nothing stays mounted after rm."""
    husk = husk_rt
    husk("run", "--name", "src", "--network", "none", IMAGE, "sh", "-c", "echo from-image > /marker", check=True)
    husk("commit", "-q", "src", "localhost/content:1", check=True)
    ro = husk("run", "--rm", "--network", "none", "--mount", "type=image,source=localhost/content:1,destination=/img",
              IMAGE, "sh", "-c", "cat /img/marker; touch /img/new 2>/dev/null || echo read-only")
    assert (ro.returncode, ro.stdout) == (0, "from-image\nread-only\n"), ro.stderr
    husk("run", "--name", "rw", "--network", "none", "--mount",
         "type=image,src=localhost/content:1,dst=/img,rw=true", IMAGE, "sh", "-c",
         "cat /img/marker; echo more >> /img/log; cat /img/log", check=True)
    again = husk("start", "-a", "rw", check=True).stdout  # the rw mount's changes are the container's
    assert again == "from-image\nmore\nmore\n"
    mounts = json.loads(husk("inspect", "--format", "{{json .Mounts}}", "rw", check=True).stdout)
    image_id = json.loads(husk("image", "inspect", "localhost/content:1", check=True).stdout)[0]["Id"]
    assert [(m["Type"], m["Source"], m["Destination"], m["RW"]) for m in mounts] == [("image", image_id, "/img", True)]
    in_use = husk("rmi", "localhost/content:1")
    assert in_use.returncode == 2 and "in use by a container" in in_use.stderr
    fresh = husk("run", "--rm", "--network", "none", "--mount", "type=image,source=localhost/content:1,target=/img",
                 IMAGE, "sh", "-c", "test -e /img/log || echo untouched", check=True)
    assert fresh.stdout == "untouched\n"  # the image itself is unchanged
    husk("rm", "rw", check=True)
    with open("/proc/self/mountinfo") as mountinfo:
        assert not [line for line in mountinfo if husk.root in line and "image-mounts" in line]
    for bad in ("type=image,destination=/x", "type=image,source=nope,destination=/x",
                "type=image,source=localhost/content:1,destination=/x,rw=maybe"):
        refused = husk("run", "--rm", "--mount", bad, IMAGE, "true")
        assert refused.returncode == 125 and refused.stderr.count("\n") == 1, (bad, refused.stderr)


def test_libpod_image_tree(api_crun):
    status, _, body = api_crun.request("GET", "/v4.3.1/libpod/images/busybox/tree")
    assert status == 200 and body["Tree"].startswith("Image ID: ")
    assert body["Tree"].splitlines()[1] == f"Tags:     [{IMAGE}]" and "└── ID: " in body["Tree"]
    status, _, body = api_crun.request("GET", "/v4.3.1/libpod/images/busybox/tree?whatrequires=true")
    assert status == 200 and body["Tree"].count("ID: ") == 2  # the image's line and its one layer
    assert api_crun.request("GET", "/v4.3.1/libpod/images/nope/tree")[0] == 404
