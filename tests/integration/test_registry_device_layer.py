"""A registry's layer that holds device nodes (the host's disk, /dev/mem): husk
stores them as podman 4.3 does (a layer may carry /dev entries, and a
container may mknod the same nodes itself with CAP_MKNOD), and they give the
container nothing: its device cgroup refuses to open them, on runc and crun."""

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


def test_device_nodes_in_a_pulled_layer_open_nothing(husk_envs, registry, tmp_path):
    seeding = husk_envs()
    layout = str(tmp_path / "layout")
    seeding("push", "-q", IMAGE, f"oci:{layout}:bb", check=True)
    _add_layer(layout, "bb", "devices", _device_layer())
    reference = f"{registry.host}/devices:1"
    subprocess.run(["skopeo", "copy", "-q", "--dest-cert-dir", registry.cert_dir, f"oci:{layout}:devices",
                    f"docker://{reference}"], check=True, capture_output=True, timeout=60)
    for runtime in ("runc", "crun"):
        husk = registry.trust(husk_envs(runtime))
        husk("rmi", "-a", "-f", check=True)
        pulled = husk("pull", "-q", reference)
        assert pulled.returncode == 0, pulled.stderr
        ran = husk("run", "--rm", "--network", "none", reference, "sh", "-c",
                   "ls -l /hostdisk /mem | cut -c1; head -c1 /hostdisk; echo disk=$?; head -c1 /mem; echo mem=$?")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split() == ["b", "c", "disk=1", "mem=1"], ran.stdout
        assert ran.stderr.count("Operation not permitted") == 2, ran.stderr
        layers = json.loads(husk("image", "inspect", reference, check=True).stdout)[0]["RootFS"]["Layers"]
        assert len(layers) == 2
        assert stat.S_IMODE(os.stat(husk.root).st_mode) == 0o700  # only root reaches the stored nodes
