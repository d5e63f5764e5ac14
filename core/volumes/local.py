"""The `local` volume driver: a directory under the storage root, or a mount.

With no options a volume is the directory ``volumes/NAME/_data``.  With
``--opt type=T --opt device=D --opt o=O`` (podman's local options) the
directory is a mount point: ``mount -t T -o O D`` is run when the first
container needs the volume and undone after the last one (tmpfs, bind,
an ext4 image file with ``o=loop``, nfs).  ``o=uid=N,gid=N`` give the
directory's owner (and are passed to a tmpfs, which takes them).
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

from husk.hooks import hookimpl

from ..define import HuskError, InvalidArgument
from .driver import VolumeDriver

if TYPE_CHECKING:
    from ..state.records import VolumeRecord

#: the keys podman's local driver takes (`UID`/`GID` are what `o=uid=` becomes)
_KEYS = {"type", "device", "o", "UID", "GID", "copy", "nocopy"}
#: mount options only a tmpfs takes from `o`; a bind or a block device is chowned instead
_OWNER_KEYS = ("uid", "gid")


def parse_owner(options: dict[str, str]) -> tuple[int, int]:
    """(uid, gid) from `o=uid=N,gid=N` (-1: not given); a bad number is refused."""
    owner = {"uid": -1, "gid": -1}
    for item in filter(None, options.get("o", "").split(",")):
        key, _, value = item.partition("=")
        if key in _OWNER_KEYS:
            if not value.isdigit():
                raise InvalidArgument(f"cannot convert {key} {value} to integer: invalid argument")
            owner[key] = int(value)
    return owner["uid"], owner["gid"]


class LocalDriver(VolumeDriver):
    name = "local"

    def _dir(self, volume: "VolumeRecord") -> str:
        return os.path.join(self.directory, volume.name)

    def path(self, volume: "VolumeRecord") -> str:
        return os.path.join(self._dir(volume), "_data")

    def create(self, volume: "VolumeRecord") -> None:
        for key in volume.options:
            if key not in _KEYS:
                raise InvalidArgument(f"invalid mount option {key} for driver 'local': invalid argument")
        if ("device" in volume.options or "o" in volume.options and "type" in volume.options) \
                and "type" not in volume.options:
            raise InvalidArgument("must provide a type for the local volume driver when a device is given")
        os.mkdir(self._dir(volume), 0o700)
        os.mkdir(self.path(volume), 0o755)
        if volume.uid >= 0 or volume.gid >= 0:
            os.chown(self.path(volume), volume.uid, volume.gid)

    def remove(self, volume: "VolumeRecord") -> None:
        import shutil

        shutil.rmtree(self._dir(volume), ignore_errors=True)

    def mount(self, volume: "VolumeRecord") -> None:
        kind = volume.options.get("type")
        if not kind:
            return
        options = volume.options.get("o", "")
        if kind != "tmpfs":
            options = ",".join(o for o in options.split(",") if o and o.partition("=")[0] not in _OWNER_KEYS)
        argv = ["mount", "-t", kind]
        if kind == "bind":
            argv = ["mount", "--bind"]
        if options:
            argv += ["-o", options]
        argv += ["--", volume.options.get("device", kind), self.path(volume)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode:
            message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
            raise HuskError(f"mounting volume {volume.name}: {message}")
        if kind != "tmpfs" and (volume.uid >= 0 or volume.gid >= 0):
            os.chown(self.path(volume), volume.uid, volume.gid)

    def unmount(self, volume: "VolumeRecord") -> None:
        if volume.options.get("type"):
            from ..storage.rootfs import unmount

            unmount(self.path(volume))


@hookimpl
def husk_register_volume_drivers(register):
    register(LocalDriver.name, LocalDriver)
