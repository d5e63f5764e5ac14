"""Layers on disk: unpacked once under `<root>/layers/<hex>/diff`, shared by
every image that lists them, next to the archive they came from.

The archive (`layer.tar`, the bytes as they arrived: plain or compressed) is
kept because an image id is the digest of a config naming each layer's
diff_id, the sha256 of its uncompressed tar; a tar rebuilt from the unpacked
files would have other bytes, so `husk save` could not give `docker load` the
layers the config names.  A layer is staged in a private directory first and
renamed into place only when the caller has checked everything, so a failed
import or load leaves no layer behind.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

#: the layer's archive, next to its `diff` directory
ARCHIVE_NAME = "layer.tar"


class _Tee:
    """A read-only stream that copies what is read from `raw` to `copy`."""

    def __init__(self, raw: BinaryIO, copy: BinaryIO) -> None:
        self._raw, self._copy = raw, copy

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._copy.write(data)
        return data


class StagedLayer:
    """A layer unpacked into a staging directory, not yet visible to any image."""

    def __init__(self, runtime: "Runtime", directory: str, digest: str, size: int) -> None:
        self.runtime, self.directory, self.digest, self.size = runtime, directory, digest, size

    def commit(self) -> bool:
        """Move the layer into place; False when it was there already (this copy is
        dropped, but gives the existing one its archive if it had none)."""
        final = self.runtime.paths.layer_dir(self.digest)
        try:
            os.rename(self.directory, final)
            return True
        except OSError:
            if not os.path.isdir(final):
                raise
        archive = os.path.join(final, ARCHIVE_NAME)
        if not os.path.exists(archive):
            os.rename(os.path.join(self.directory, ARCHIVE_NAME), archive)
        self.discard()
        return False

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def stage_layer(runtime: "Runtime", stream: BinaryIO, *, refuse_devices: bool = False) -> StagedLayer:
    """Unpack a layer tar (plain or compressed) with :func:`husk.storage.layers.extract_layer`
    (chrooted, escape-refusing; device-refusing for a registry's layer) into a
    staging directory, keeping its archive."""
    from .layers import extract_layer

    layers_root = os.path.join(runtime.paths.root, "layers")
    os.makedirs(layers_root, mode=0o700, exist_ok=True)
    staging = os.path.join(layers_root, f".stage-{os.getpid()}-{time.monotonic_ns()}")
    os.makedirs(staging, mode=0o700)
    try:
        with open(os.path.join(staging, ARCHIVE_NAME), "wb") as copy:
            info = extract_layer(_Tee(stream, copy), os.path.join(staging, "diff"), refuse_devices=refuse_devices)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StagedLayer(runtime, staging, info.digest, info.size)


def store_layer(runtime: "Runtime", stream: BinaryIO) -> StagedLayer:
    """:func:`stage_layer`, then the layer moved into place (dropped again if that fails):
    for a layer husk writes itself, checked as it is written."""
    layer = stage_layer(runtime, stream)
    try:
        layer.commit()
    except BaseException:
        layer.discard()
        raise
    return layer


def layer_archive(runtime: "Runtime", layer_id: str) -> str:
    """The path of a stored layer's archive; HuskError when the layer has none
    (stored by a husk that did not keep archives)."""
    from ..define import HuskError

    path = os.path.join(runtime.paths.layer_dir(layer_id), ARCHIVE_NAME)
    if not os.path.isfile(path):
        raise HuskError(f"layer {layer_id} has no stored archive (it was stored by an older husk): "
                        "import or load the image again to save it")
    return path


def layer_present(runtime: "Runtime", layer_id: str) -> bool:
    """Whether a layer is stored with its archive (a load can skip unpacking it)."""
    return os.path.isfile(os.path.join(runtime.paths.layer_dir(layer_id), ARCHIVE_NAME))
