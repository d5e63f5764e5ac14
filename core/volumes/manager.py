"""What the engine calls for volumes: create, look up, remove, prune, and the use count.

Every change is made under one lock file (``Paths.volumes_lock``): creating
and removing are rare, and mounting a volume for a container is quick.  The
use count is the set of containers holding the volume mounted (``users`` in
the record): adding an id twice or removing it twice changes nothing, so a
command killed half-way never leaves the count off by one.  A user whose
container is gone, or is not locked by anyone and has no mount recorded (a
CLI killed between mounting the volume and saving the container), is dropped
whenever the set is changed; a container whose monitor was killed is cleaned
up by its next sync, which releases its volumes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from typing import TYPE_CHECKING, Callable, Iterator

from ..define import InvalidArgument, NoSuchContainer, NoSuchVolume, VolumeInUse
from ..state.lock import FileLock
from ..state.paths import make_private_dirs
from ..state.records import VolumeRecord
from .names import anonymous_name, check_volume_name

if TYPE_CHECKING:
    from ..state.paths import Paths
    from ..state.store import Store
    from .driver import VolumeDriver


class Volumes:
    def __init__(self, store: "Store", paths: "Paths", drivers: dict[str, type],
                 emit: Callable[[str, str], None] = lambda status, name: None) -> None:
        """`emit(status, name)` records a volume event (create, remove, mount, unmount)."""
        self.store, self.paths, self._driver_classes, self._emit = store, paths, drivers, emit
        self._drivers: dict[str, "VolumeDriver"] = {}

    # -- drivers ------------------------------------------------------------------------
    def driver(self, name: str) -> "VolumeDriver":
        if name not in self._driver_classes:
            raise InvalidArgument(f"no volume plugin with name {name} available: required plugin missing")
        if name not in self._drivers:
            directory = self.paths.volume_driver_dir(name)
            make_private_dirs(directory)
            self._drivers[name] = self._driver_classes[name](directory)
        return self._drivers[name]

    def path(self, volume: VolumeRecord) -> str:
        """The host directory a container bind-mounts for `volume`."""
        return self.driver(volume.driver).path(volume)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with FileLock(self.paths.volumes_lock):
            yield

    # -- records ------------------------------------------------------------------------
    def create(self, name: str = "", driver: str = "local", options: dict[str, str] | None = None,
               labels: dict[str, str] | None = None, anonymous: bool = False,
               ignore: bool = False) -> VolumeRecord:
        """A new volume (a random name when `name` is empty); with `ignore`, an
        existing volume of that name is returned as it is."""
        name = check_volume_name(name) if name else anonymous_name()
        options = dict(options or {})
        from .local import parse_owner

        uid, gid = parse_owner(options)
        if uid >= 0:
            options["UID"] = str(uid)
        if gid >= 0:
            options["GID"] = str(gid)
        record = VolumeRecord(name=name, driver=driver or "local", created=time.time(), labels=dict(labels or {}),
                              options=options, anonymous=anonymous, uid=uid, gid=gid)
        with self._locked():
            if ignore and self.store.volume_exists(name):
                return self.store.volume(name)
            if self.store.volume_exists(name):
                from ..define import VolumeExists

                raise VolumeExists(f"volume with name {name} already exists: volume already exists")
            backend = self.driver(record.driver)
            backend.create(record)
            try:
                self.store.add_volume(record)
            except BaseException:
                backend.remove(record)
                raise
        self._emit("create", record.name)
        return record

    def get(self, name: str) -> VolumeRecord:
        return self.store.volume(name)

    def list(self) -> list[VolumeRecord]:
        return self.store.volumes()

    def exists(self, name: str) -> bool:
        return self.store.volume_exists(name)

    def containers_using(self, name: str) -> list[str]:
        """Ids of the containers whose configuration names the volume (running or not)."""
        return [config.id for config, _ in self.store.containers()
                if any(m.type == "volume" and m.source == name for m in config.mounts)]

    def remove(self, name: str) -> None:
        """Delete a volume no container uses (the engine removes users first for `-f`)."""
        with self._locked():
            volume = self.store.volume(name)
            users = self.containers_using(volume.name)
            if users:
                raise VolumeInUse(f"volume {volume.name} is being used by the following container(s): "
                                  f"{', '.join(users)}: volume is being used")
            self._unmount_all(volume)
            self.driver(volume.driver).remove(volume)
            self.store.remove_volume(volume.name)
        self._emit("remove", volume.name)

    def _unmount_all(self, volume: VolumeRecord) -> None:
        if volume.users or volume.user_mounts:
            self.driver(volume.driver).unmount(volume)

    def prune(self, keep=lambda volume: False) -> list[VolumeRecord]:
        """Remove every volume no container uses and `keep` does not keep; returns them."""
        with self._locked():
            used = {m.source for config, _ in self.store.containers() for m in config.mounts if m.type == "volume"}
            removed = []
            for volume in self.store.volumes():
                if volume.name in used or keep(volume):
                    continue
                self._unmount_all(volume)
                self.driver(volume.driver).remove(volume)
                self.store.remove_volume(volume.name)
                removed.append(volume)
        for volume in removed:
            self._emit("remove", volume.name)
        return removed

    # -- the use count ------------------------------------------------------------------
    def acquire(self, container_id: str, names: list[str]) -> dict[str, str]:
        """Mount each volume for the container (the driver's mount for the first
        user); returns name -> host path."""
        paths = {}
        with self._locked():
            for name in names:
                volume = self.store.volume(name)
                volume.users = self._live_users(volume, container_id)
                if not volume.users and not volume.user_mounts:
                    self.driver(volume.driver).mount(volume)
                if container_id not in volume.users:
                    volume.users.append(container_id)
                self.store.save_volume(volume)
                paths[name] = self.path(volume)
        return paths

    def release(self, container_id: str, names: list[str]) -> None:
        """The container no longer holds these volumes; the last user's release unmounts."""
        with self._locked():
            for name in names:
                try:
                    volume = self.store.volume(name)
                except NoSuchVolume:
                    continue
                was = bool(volume.users)
                volume.users = [u for u in self._live_users(volume, container_id) if u != container_id]
                if was and not volume.users and not volume.user_mounts:
                    self.driver(volume.driver).unmount(volume)
                self.store.save_volume(volume)

    def _live_users(self, volume: VolumeRecord, caller: str) -> list[str]:
        """`volume.users` less the containers that cannot be holding it any more."""
        live = []
        for user in volume.users:
            if user == caller or self._holds_mount(user):
                live.append(user)
        return live

    def _holds_mount(self, container_id: str) -> bool:
        lock = FileLock(self.paths.lock_path(container_id))
        if not lock.acquire(blocking=False):
            return True  # someone is working on it: trust its record
        try:
            return bool(self.store.container_state(container_id).mountpoint)
        except NoSuchContainer:
            return False
        finally:
            lock.release()

    def mount_for_user(self, name: str) -> str:
        """`volume mount`: mounted until a matching `volume unmount`; returns the path."""
        with self._locked():
            volume = self.store.volume(name)
            volume.users = self._live_users(volume, "")
            if not volume.users and not volume.user_mounts:
                self.driver(volume.driver).mount(volume)
            volume.user_mounts += 1
            self.store.save_volume(volume)
        self._emit("mount", name)
        return self.path(volume)

    def unmount_for_user(self, name: str) -> None:
        with self._locked():
            volume = self.store.volume(name)
            if not volume.user_mounts:
                return
            volume.user_mounts -= 1
            volume.users = self._live_users(volume, "")
            if not volume.users and not volume.user_mounts:
                self.driver(volume.driver).unmount(volume)
            self.store.save_volume(volume)
        self._emit("unmount", name)

    # -- copy-up ------------------------------------------------------------------------
    def copy_up(self, name: str, rootfs: str, destination: str) -> None:
        """Copy what the image has at `destination` into a volume that has never
        been used and is empty (podman's default; `nocopy` skips it).  The path
        is resolved inside the rootfs, so an image's symlink cannot point the
        copy at the host."""
        with self._locked():
            volume = self.store.volume(name)
            if not volume.needs_copy_up:
                return
            target = self.path(volume)
            if not os.listdir(target):
                _copy_tree(rootfs, destination, target)
            volume.needs_copy_up = False
            self.store.save_volume(volume)


def _copy_tree(rootfs: str, source: str, target: str) -> None:
    import stat

    from ..storage.rootpath import open_path

    try:
        fd = open_path(rootfs, source)
    except OSError:
        return  # nothing there: nothing to copy
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            return
        done = subprocess.run(["cp", "-a", "--", f"/proc/self/fd/{fd}/.", target], pass_fds=[fd],
                              capture_output=True, text=True)
        if done.returncode:
            from ..define import HuskError

            raise HuskError(f"copying up the image's {source} into the volume: {done.stderr.strip()}")
    finally:
        os.close(fd)
