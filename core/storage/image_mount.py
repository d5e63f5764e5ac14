"""`image mount` / `image unmount`: an image's root filesystem, read-only.

The image's layers are mounted as an overlay without an upper directory
(:func:`husk.storage.rootfs.mount_read_only`) under ``ROOT/image-mounts/ID``.
The kernel's mount table is the record: an image is mounted when its
``merged`` directory is a mount point, so a crash or a reboot never leaves a
count that disagrees with it.  Unlike podman's counted mounts, mounting twice
is one mount, and one unmount undoes it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .rootfs import is_mounted, mount_read_only, unmount

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..state.records import ImageRecord


def _merged(runtime: "Runtime", image_id: str) -> str:
    return os.path.join(runtime.paths.image_mount_dir(image_id), "merged")


def mount_image(runtime: "Runtime", image: "ImageRecord") -> str:
    """Mount `image` read-only (once); its mount point."""
    from ..define import HuskError

    if not image.layers:
        raise HuskError(f"image {image.id[:12]} has no layers to mount")
    lowers = [runtime.paths.layer_diff(layer) for layer in reversed(image.layers)]
    return mount_read_only(lowers, runtime.paths.image_mount_dir(image.id))


def unmount_image(runtime: "Runtime", image_id: str) -> bool:
    """Unmount the image; False when it was not mounted."""
    merged = _merged(runtime, image_id)
    if not is_mounted(merged):
        return False
    unmount(merged)
    return True


def mounted_images(runtime: "Runtime") -> list[tuple["ImageRecord", str]]:
    """(image, mount point) of every mounted image."""
    found = []
    for image in runtime.store.images():
        merged = _merged(runtime, image.id)
        if is_mounted(merged):
            found.append((image, merged))
    return found
