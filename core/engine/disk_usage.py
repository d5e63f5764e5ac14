"""How much disk husk's images, containers and volumes take (`system df`,
`ps --size`, `inspect --size`, Docker's `GET /system/df`).

Sizes are measured as `du --bytes` measures them (apparent sizes of every
file, directory and link, each inode once), so they agree with du on the
same directories:

* an image: its layers' directories under the storage root (the unpacked
  tree and the layer's tar); a layer several images share counts once in
  the total and is each image's "shared" size;
* a container: its writable layer (SizeRw), plus its image's unpacked trees
  for the whole root filesystem it sees (SizeRootFs);
* a volume: its directory.

Reclaimable is what removing the unused would free: layers no used image
has, the writable layers of containers that are not running, and volumes no
container names.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from ..define import HuskError, State

if TYPE_CHECKING:
    from ..state.records import ImageRecord, VolumeRecord
    from .container import Container
    from .runtime import Runtime


def tree_size(path: str, seen: set | None = None) -> int:
    """Bytes under `path` as `du -sb` counts them (0 when it is missing);
    inodes in `seen` are not counted again (hard links, trees measured before)."""
    seen = set() if seen is None else seen
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            info = os.lstat(current)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += info.st_size
        if os.path.isdir(current) and not os.path.islink(current):
            try:
                stack.extend(os.path.join(current, name) for name in os.listdir(current))
            except OSError:
                continue
    return total


@dataclasses.dataclass
class ImageUsage:
    image: "ImageRecord"
    size: int
    shared: int
    containers: int

    @property
    def unique(self) -> int:
        return self.size - self.shared


@dataclasses.dataclass
class ContainerUsage:
    container: "Container"
    size_rw: int
    size_rootfs: int

    @property
    def active(self) -> bool:
        return self.container.state.state in (State.RUNNING, State.PAUSED)


@dataclasses.dataclass
class VolumeUsage:
    volume: "VolumeRecord"
    size: int
    links: int


@dataclasses.dataclass
class DiskUsage:
    images: list[ImageUsage]
    containers: list[ContainerUsage]
    volumes: list[VolumeUsage]
    #: every layer once
    layers_size: int
    #: the layers no image in use has
    layers_reclaimable: int


class _Layers:
    """Sizes of layer directories, each measured once."""

    def __init__(self, runtime: "Runtime") -> None:
        self.root = os.path.join(runtime.paths.root, "layers")
        self.whole: dict[str, int] = {}
        self.content: dict[str, int] = {}

    @staticmethod
    def key(layer: str) -> str:
        return layer.removeprefix("sha256:")

    def size(self, layer: str) -> int:
        key = self.key(layer)
        if key not in self.whole:
            self.whole[key] = tree_size(os.path.join(self.root, key))
        return self.whole[key]

    def tree(self, layer: str) -> int:
        """The unpacked tree only: what a container's root filesystem shows of the layer."""
        key = self.key(layer)
        if key not in self.content:
            self.content[key] = tree_size(os.path.join(self.root, key, "diff"))
        return self.content[key]


def container_sizes(runtime: "Runtime", container: "Container", layers: _Layers | None = None) -> tuple[int, int]:
    """(SizeRw, SizeRootFs): the writable layer, and that plus the image's unpacked layers."""
    layers = layers or _Layers(runtime)
    rw = tree_size(os.path.join(runtime.paths.container_dir(container.id), "upper"))
    try:
        from ..storage.images import resolve_image

        image_layers = resolve_image(runtime, container.config.image_id).layers
    except HuskError:
        image_layers = []
    return rw, rw + sum(layers.tree(layer) for layer in dict.fromkeys(image_layers))


def disk_usage(runtime: "Runtime") -> DiskUsage:
    layers = _Layers(runtime)
    containers = runtime.containers(errors=[])
    for container in containers:
        container.sync_if_unlocked()
    users: dict[str, int] = {}
    for container in containers:
        users[container.config.image_id] = users.get(container.config.image_id, 0) + 1
    images = runtime.store.images()
    holders: dict[str, int] = {}
    for image in images:
        for layer in set(map(layers.key, image.layers)):
            holders[layer] = holders.get(layer, 0) + 1
    image_usage = []
    for image in images:
        own = set(map(layers.key, image.layers))
        image_usage.append(ImageUsage(image, sum(map(layers.size, own)),
                                      sum(layers.size(layer) for layer in own if holders[layer] > 1),
                                      users.get(image.id, 0)))
    in_use = {layers.key(layer) for image in images if users.get(image.id) for layer in image.layers}
    container_usage = [ContainerUsage(c, *container_sizes(runtime, c, layers)) for c in containers]
    links: dict[str, int] = {}
    for container in containers:
        for mount in container.config.mounts:
            if mount.type == "volume":
                links[mount.source] = links.get(mount.source, 0) + 1
    volume_usage = [VolumeUsage(volume, _volume_size(runtime, volume), links.get(volume.name, 0))
                    for volume in runtime.volumes.list()]
    return DiskUsage(image_usage, container_usage, volume_usage, sum(map(layers.size, holders)),
                     sum(layers.size(layer) for layer in holders if layer not in in_use))


def _volume_size(runtime: "Runtime", volume: "VolumeRecord") -> int:
    try:
        return tree_size(runtime.volumes.path(volume))
    except HuskError:  # a driver that cannot say where its data is
        return 0
