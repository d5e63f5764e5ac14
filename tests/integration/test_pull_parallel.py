"""What a pull does at once, watched from the registry's side (a TLS server of
the test's own): layers are fetched several at a time but never more than
PARALLEL_LAYERS, and a layer is unpacked while another is still arriving."""

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading

from test_registry import HostileRegistry  # same directory (rootdir imports)

from husk.storage.pull import PARALLEL_LAYERS


def _layer(name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(name)
        tar.addfile(info, io.BytesIO(name.encode()))
    return buffer.getvalue()


def _routes(names: list[str], answer) -> dict:
    """An image of one layer per name; each blob is served by `answer(handler, name, blob)`."""
    layers = [_layer(name) for name in names]
    blobs = [gzip.compress(layer) for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": "sha256:" + hashlib.sha256(blob).hexdigest(), "size": len(blob)}
                           for blob in blobs]}
    routes = {"/v2/": b"{}", "/v2/par/manifests/latest": json.dumps(manifest).encode(),
              f"/v2/par/blobs/{manifest['config']['digest']}": config}
    for name, blob, descriptor in zip(names, blobs, manifest["layers"]):
        routes[f"/v2/par/blobs/{descriptor['digest']}"] = (
            lambda handler, name=name, blob=blob: answer(handler, name, blob))
    return routes


def _send(handler, blob: bytes) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(blob)))
    handler.end_headers()
    handler.wfile.write(blob)


def test_layers_are_fetched_several_at_once_and_bounded(husk, tmp_path):
    state = {"active": 0, "most": 0, "released": False}
    changed = threading.Condition()

    def answer(handler, name: str, blob: bytes) -> None:
        with changed:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
            if state["active"] >= PARALLEL_LAYERS:
                state["released"] = True  # the bound was reached: nobody waits from now on
            changed.notify_all()
            changed.wait_for(lambda: state["released"], timeout=30)
        try:
            _send(handler, blob)
        finally:
            with changed:
                state["active"] -= 1

    server = HostileRegistry(tmp_path, _routes([f"layer{n}" for n in range(2 * PARALLEL_LAYERS)], answer))
    try:
        result = husk("pull", "-q", "--cert-dir", server.cert_dir, f"{server.host}/par", timeout=120)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert state["most"] == PARALLEL_LAYERS, state


def test_a_layer_is_unpacked_while_another_is_arriving(husk, tmp_path):
    """The second layer's blob is held back until the first layer's file is
    unpacked in the store: the pull then completes only if unpacking does not
    wait for every download."""
    seen = threading.Event()
    layers_dir = os.path.join(husk.root, "layers")

    def unpacked(name: str) -> bool:
        return any(name in files for _, _, files in os.walk(layers_dir))

    def answer(handler, name: str, blob: bytes) -> None:
        if name == "late":
            for _ in range(600):
                if unpacked("early"):
                    seen.set()
                    break
                seen.wait(0.05)
        _send(handler, blob)

    server = HostileRegistry(tmp_path, _routes(["early", "late"], answer))
    try:
        result = husk("pull", "-q", "--cert-dir", server.cert_dir, f"{server.host}/par", timeout=120)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert seen.is_set()  # "early" was on disk before "late" was sent
