"""An example volume driver: each volume is an ext4 image file in the driver's
directory, loop-mounted while a container (or `husk volume mount`) uses it.

    husk volume create --driver imagefile --opt size=33554432 db

needs mkfs.ext4 (e2fsprogs) and loop devices.  husk calls every method under
its volumes lock, so the driver keeps no lock of its own.
"""

import os
import subprocess

from husk.define import HuskError, InvalidArgument
from husk.hooks import hookimpl
from husk.volumes.driver import VolumeDriver

DEFAULT_SIZE = 16 << 20


class ImageFileDriver(VolumeDriver):
    name = "imagefile"

    def _image(self, volume) -> str:
        return os.path.join(self.directory, volume.name + ".img")

    def path(self, volume) -> str:
        return os.path.join(self.directory, volume.name)

    def create(self, volume) -> None:
        unknown = sorted(set(volume.options) - {"size"})
        if unknown:
            raise InvalidArgument(f"invalid option {unknown[0]} for driver imagefile: only size")
        size = volume.options.get("size", str(DEFAULT_SIZE))
        if not size.isdigit() or int(size) < 1 << 20:
            raise InvalidArgument(f"invalid size {size!r} for driver imagefile: bytes, at least 1048576")
        with open(self._image(volume), "xb") as image:
            image.truncate(int(size))
        try:
            _run("mkfs.ext4", "-q", "-F", self._image(volume))
            os.mkdir(self.path(volume), 0o755)
        except BaseException:
            os.unlink(self._image(volume))  # raising must leave nothing behind
            raise

    def mount(self, volume) -> None:
        _run("mount", "-o", "loop", "--", self._image(volume), self.path(volume))

    def unmount(self, volume) -> None:
        _run("umount", "--", self.path(volume))

    def remove(self, volume) -> None:
        os.rmdir(self.path(volume))
        os.unlink(self._image(volume))


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise HuskError(f"{argv[0]} failed: {done.stderr.strip() or done.returncode}")


@hookimpl
def husk_register_volume_drivers(register):
    register(ImageFileDriver.name, ImageFileDriver)
