"""A layer that holds device nodes (the host's disk, /dev/mem).

From a registry it is a stranger's, and the pull refuses it: one line, exit
125, no image, no layer, the store as it was (issue 14).  From an archive the
user loads (`docker save`'s, `podman save`'s) the nodes are kept, as podman 4.3
keeps them, and they give the container nothing: its device cgroup refuses to
open them, on runc and crun."""

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile

from husk.testing import IMAGE, needs_registry

pytestmark = needs_registry


def _device_layer() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, major, minor in (("hostdisk", tarfile.BLKTYPE, 8, 0), ("mem", tarfile.CHRTYPE, 1, 1)):
            info = tarfile.TarInfo(name)
            info.type, info.devmajor, info.devminor, info.mode = kind, major, minor, 0o666
            tar.addfile(info)
    return buffer.getvalue()


def _add_layer(layout: str, tag: str, new_tag: str, layer: bytes) -> None:
    """The layout's image `tag` plus one gzipped layer, as `new_tag` in the same layout."""
    blobs = os.path.join(layout, "blobs", "sha256")

    def read(digest: str) -> dict:
        with open(os.path.join(blobs, digest.removeprefix("sha256:"))) as stream:
            return json.load(stream)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as out:
            out.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    with open(os.path.join(layout, "index.json")) as stream:
        index = json.load(stream)
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = read(entry["digest"])
    config = read(manifest["config"]["digest"])
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(layer).hexdigest())
    manifest["config"].update(put(json.dumps(config).encode()))
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               **put(gzip.compress(layer))})
    index["manifests"].append({"mediaType": manifest["mediaType"], **put(json.dumps(manifest).encode()),
                               "annotations": {"org.opencontainers.image.ref.name": new_tag}})
    with open(os.path.join(layout, "index.json"), "w") as stream:
        json.dump(index, stream)


def _device_image(husk_envs, tmp_path) -> str:
    """An OCI layout holding busybox as `bb` and busybox plus the device layer as `devices`."""
    layout = str(tmp_path / "layout")
    husk_envs()("push", "-q", IMAGE, f"oci:{layout}:bb", check=True)
    _add_layer(layout, "bb", "devices", _device_layer())
    return layout


def _copy(source: str, destination: str, *flags: str) -> None:
    subprocess.run(["skopeo", "copy", "-q", *flags, source, destination], check=True, capture_output=True, timeout=60)


def _store(husk) -> list:
    """What a failed pull must leave as it was: the images, and the layer store's entries."""
    images = json.loads(husk("images", "--format", "json", check=True).stdout)
    return [sorted((i["Id"], tuple(i.get("Names") or ())) for i in images),
            sorted(os.listdir(os.path.join(husk.root, "layers")))]


def test_a_pulled_layer_with_device_nodes_is_refused_and_leaves_the_store_intact(husk_envs, registry, tmp_path):
    layout = _device_image(husk_envs, tmp_path)
    devices, good = f"{registry.host}/devices:1", f"{registry.host}/good:1"
    for tag, reference in (("devices", devices), ("bb", good)):
        _copy(f"oci:{layout}:{tag}", f"docker://{reference}", "--dest-cert-dir", registry.cert_dir)
    husk = registry.trust(husk_envs())
    before = _store(husk)
    pulled = husk("pull", "-q", devices)
    assert pulled.returncode == 125, pulled
    assert pulled.stdout == ""
    error = pulled.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and "Traceback" not in pulled.stderr, pulled.stderr
    assert "member 'hostdisk' is a block device (8:0); device nodes are refused in a pulled layer" in error, error
    assert _store(husk) == before
    assert husk("image", "exists", devices).returncode == 1
    assert husk("pull", "-q", good).returncode == 0
    ran = husk("run", "--rm", "--network", "none", good, "echo", "hi")
    assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr


def test_device_nodes_in_a_loaded_archive_are_kept_and_open_nothing(husk_envs, tmp_path):
    layout = _device_image(husk_envs, tmp_path)
    archive = str(tmp_path / "devices.tar")
    _copy(f"oci:{layout}:devices", f"docker-archive:{archive}:localhost/devices:1")  # as `docker save` writes it
    for runtime in ("runc", "crun"):
        husk = husk_envs(runtime)
        loaded = husk("load", "-i", archive)
        assert loaded.returncode == 0, loaded.stderr
        assert "Loaded image: localhost/devices:1" in loaded.stdout
        ran = husk("run", "--rm", "--network", "none", "localhost/devices:1", "sh", "-c",
                   "ls -l /hostdisk /mem | cut -c1; head -c1 /hostdisk; echo disk=$?; head -c1 /mem; echo mem=$?")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split() == ["b", "c", "disk=1", "mem=1"], ran.stdout
        assert ran.stderr.count("Operation not permitted") == 2, ran.stderr
        assert stat.S_IMODE(os.stat(husk.root).st_mode) == 0o700  # only root reaches the stored nodes
