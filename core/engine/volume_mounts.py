"""A container's volumes: made at create, mounted with the rootfs, released with it.

At create, ``-v NAME:/dst`` names a volume (made when missing, as podman
does), ``-v /dst`` and the image's ``VOLUME`` entries make anonymous ones,
and ``--volumes-from`` copies another container's volumes and binds.  The
container's configuration keeps them as mounts of type ``volume`` whose
source is the volume's name.  Whenever the container's own rootfs mount is
taken (init, restore) its volumes are acquired and empty new ones get the
image's content (copy-up); when that mount is dropped they are released.
``--mount type=image`` mounts are held the same way: the image (by id) is
mounted for the container alone, read-only or with its own upper directory
(``rw=true``), and bound into it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable

from ..define import InvalidArgument, NoSuchVolume
from ..state.records import Mount

if TYPE_CHECKING:
    from ..state.records import ContainerConfig, ImageConfig
    from .container import Container
    from .runtime import Runtime

#: options of a volume mount that husk acts on and the runtime never sees
_VOLUME_ONLY_OPTIONS = frozenset({"copy", "nocopy", "U", "z", "Z"})


def resolve_for_create(runtime: "Runtime", mounts: Iterable[Mount], image: "ImageConfig",
                       volumes_from: Iterable[str] = (), image_volume: str = "bind") -> tuple[list[Mount], list[str]]:
    """The create-time mounts with every volume made or found, and the names of
    the anonymous volumes made here (to undo on a failed create).  The image's
    VOLUMEs (`--image-volume`): `bind`, an anonymous volume each; `tmpfs`, a
    tmpfs each; `ignore`, nothing."""
    if image_volume not in ("bind", "tmpfs", "ignore"):
        raise InvalidArgument(f"invalid image volume type {image_volume!r}: bind, tmpfs or ignore")
    resolved: list[Mount] = []
    made: list[str] = []
    try:
        for value in volumes_from:
            resolved.extend(_mounts_from(runtime, value))
        for mount in mounts:
            if mount.type == "volume":
                mount = _volume_mount(runtime, mount, made)
            elif mount.type == "image":
                mount = _image_mount(runtime, mount)
            resolved = [m for m in resolved if m.destination != mount.destination] + [mount]
        taken = {m.destination for m in resolved}
        for destination in image.volumes if image_volume != "ignore" else ():
            destination = os.path.normpath(destination)
            if destination.startswith("/") and destination not in taken:
                resolved.append(Mount(destination=destination, type="tmpfs", source="tmpfs")
                                if image_volume == "tmpfs" else
                                _volume_mount(runtime, Mount(destination=destination, type="volume"), made))
                taken.add(destination)
    except BaseException:
        remove_volumes(runtime, made)
        raise
    return resolved, made


#: mount options that say how a volume the mount makes is made, never given to the runtime
_MAKING_OPTIONS = ("volume-opt=", "volume-driver=")


def _volume_mount(runtime: "Runtime", mount: Mount, made: list[str]) -> Mount:
    """The volume a mount names, made when missing (with the mount's
    `volume-opt=K=V` options as the driver's and `volume-driver=NAME` as its
    driver, as podman does for `--mount` and Docker's HostConfig.VolumeDriver;
    they are dropped from the mount: an existing volume keeps its own)."""
    driver_options = dict(o.removeprefix("volume-opt=").split("=", 1) for o in mount.options
                          if o.startswith("volume-opt="))
    driver = next((o.removeprefix("volume-driver=") for o in mount.options if o.startswith("volume-driver=")),
                  "local")
    if not mount.source:
        volume = runtime.volumes.create(driver=driver, anonymous=True, options=driver_options)
        made.append(volume.name)
    elif not runtime.volumes.exists(mount.source):
        runtime.volumes.create(mount.source, driver=driver, options=driver_options, ignore=True)
    return Mount(destination=mount.destination, type="volume", source=mount.source or made[-1],
                 options=[o for o in mount.options if not o.startswith(_MAKING_OPTIONS)])


def _image_mount(runtime: "Runtime", mount: Mount) -> Mount:
    """`--mount type=image,source=IMG`: the image held by its id (it cannot be
    swapped for another by a later tag, and rmi sees it is in use)."""
    from ..storage.images import resolve_image

    image = resolve_image(runtime, mount.source)
    return Mount(destination=os.path.normpath(mount.destination), type="image", source=image.id,
                 options=list(mount.options))


def _image_mount_dir(container: "Container", mount: Mount) -> str:
    """The container's own mount of an image: ``CONTAINER/image-mounts/KEY`` (merged,
    and for `rw` its upper directory, which lives as long as the container)."""
    import hashlib

    key = hashlib.sha256(mount.destination.encode()).hexdigest()[:16]
    return os.path.join(container.runtime.paths.container_dir(container.id), "image-mounts", key)


def _mount_images(container: "Container") -> None:
    """Mount each `type=image` mount's image for the container: read-only (an
    overlay without upper) or, with rw=true, with an upper of its own."""
    from ..storage.rootfs import mount_overlay, mount_read_only

    runtime = container.runtime
    for mount in container.config.mounts:
        if mount.type == "image":
            layers = runtime.store.image(mount.source).layers
            lowers = [runtime.paths.layer_diff(layer) for layer in reversed(layers)]
            directory = _image_mount_dir(container, mount)
            if "rw" in mount.options:
                mount_overlay(lowers, directory)
            else:
                mount_read_only(lowers, directory)


def _unmount_images(container: "Container") -> None:
    from ..storage.rootfs import unmount

    for mount in container.config.mounts:
        if mount.type == "image":
            unmount(os.path.join(_image_mount_dir(container, mount), "merged"))


def _mounts_from(runtime: "Runtime", value: str) -> list[Mount]:
    """`--volumes-from CTR[:ro|rw]`: its volumes and binds (not its tmpfs), ro/rw as asked."""
    name, _, mode = value.partition(":")
    if mode not in ("", "ro", "rw"):
        raise InvalidArgument(f"invalid options {mode!r} for --volumes-from: only ro and rw are allowed")
    config = runtime.container(name).config
    found = []
    for mount in config.mounts:
        if mount.type not in ("volume", "bind"):
            continue
        options = [o for o in mount.options if o not in ("ro", "rw")] if mode else list(mount.options)
        if mode:
            options.append(mode)
        found.append(Mount(destination=mount.destination, type=mount.type, source=mount.source, options=options))
    return found


def volume_names(config: "ContainerConfig") -> list[str]:
    return list(dict.fromkeys(m.source for m in config.mounts if m.type == "volume"))


def acquire(container: "Container", rootfs: str) -> None:
    """Mount the container's volumes and image mounts for it; copy the image's
    content into new empty volumes."""
    _mount_images(container)
    names = volume_names(container.config)
    if not names:
        return
    volumes = container.runtime.volumes
    volumes.acquire(container.id, names)
    mapped = bool(container.config.run_options.uid_mappings)
    try:
        for mount in container.config.mounts:
            if mount.type != "volume":
                continue
            fresh = mapped and volumes.get(mount.source).needs_copy_up
            if "nocopy" not in mount.options:
                volumes.copy_up(mount.source, rootfs, mount.destination)
            if "U" in mount.options:
                _chown_to_user(container, rootfs, mount.source)
            elif fresh:
                _chown_new_to_mapped_user(container, rootfs, mount.source)
    except BaseException:
        volumes.release(container.id, names)
        raise


def _chown_to_user(container: "Container", rootfs: str, name: str) -> None:
    """`:U`: the volume's directory belongs to the container's user (its host ids, in a user namespace)."""
    volumes = container.runtime.volumes
    os.chown(volumes.path(volumes.get(name)), *_host_user(container, rootfs))


def _chown_new_to_mapped_user(container: "Container", rootfs: str, name: str) -> None:
    """A new local volume's directory, still root's (no UID/GID option, nothing copied up from the
    image), is given to the container's user as its user namespace maps it, as podman does on a
    volume's first use; otherwise its root inside could not write to it (host root's is `nobody`'s)."""
    volumes = container.runtime.volumes
    volume = volumes.get(name)
    if volume.driver != "local" or volume.uid >= 0 or volume.gid >= 0:
        return
    path = volumes.path(volume)
    st = os.stat(path)
    if (st.st_uid, st.st_gid) == (0, 0):
        os.chown(path, *_host_user(container, rootfs))


def _host_user(container: "Container", rootfs: str) -> tuple[int, int]:
    """The host uid and gid of the container's user (through its mapping, if it has one)."""
    from .userns import host_id
    from .users import resolve_user

    user = resolve_user(rootfs, container.config.user)
    options = container.config.run_options
    if not options.uid_mappings:
        return user.uid, user.gid
    return host_id(options.uid_mappings, user.uid), host_id(options.gid_mappings, user.gid)


def release(container: "Container") -> None:
    _unmount_images(container)
    names = volume_names(container.config)
    if names:
        container.runtime.volumes.release(container.id, names)


def spec_config(container: "Container") -> "ContainerConfig":
    """The container's config with each volume and image mount as the bind
    mount the runtime is given (the volume's host directory, the image's mount)."""
    import msgspec

    mounts = []
    for mount in container.config.mounts:
        if mount.type == "volume":  # the volume manager (and its drivers' plugins) only for a volume
            volumes = container.runtime.volumes
            source = volumes.path(volumes.get(mount.source))
            options = [o for o in mount.options if o not in _VOLUME_ONLY_OPTIONS]
            # podman's default for a volume: nosuid and nodev, unless suid or dev is asked for
            options += [flag for flag in ("nosuid", "nodev") if flag not in options and flag[2:] not in options]
            mount = Mount(destination=mount.destination, type="bind", source=source, options=options)
        elif mount.type == "image":
            mount = Mount(destination=mount.destination, type="bind", options=["rbind", *mount.options],
                          source=os.path.join(_image_mount_dir(container, mount), "merged"))
        mounts.append(mount)
    return msgspec.structs.replace(container.config, mounts=mounts)


def anonymous_volumes(runtime: "Runtime", config: "ContainerConfig") -> list[str]:
    """The container's anonymous volumes that no other container uses (`rm -v`)."""
    names = []
    for name in volume_names(config):
        try:
            volume = runtime.volumes.get(name)
        except NoSuchVolume:
            continue
        if volume.anonymous and runtime.volumes.containers_using(name) in ([], [config.id]):
            names.append(name)
    return names


def remove_volumes(runtime: "Runtime", names: Iterable[str]) -> None:
    """Remove volumes that may have gone already (quietly)."""
    from ..define import VolumeInUse

    for name in names:
        try:
            runtime.volumes.remove(name)
        except (NoSuchVolume, VolumeInUse):
            pass


def remove_volume(runtime: "Runtime", name: str, force: bool = False, timeout: int | None = None) -> None:
    """`volume rm`: with `force`, the containers using the volume are removed
    first (stopped, SIGKILL after `timeout`), as podman does."""
    volume = runtime.volumes.get(name)
    if force:
        for container_id in runtime.volumes.containers_using(volume.name):
            runtime.container(container_id).remove(force=True, timeout=timeout)
    runtime.volumes.remove(volume.name)


def export_volume(runtime: "Runtime", name: str, target) -> None:
    """The volume's content as a tar stream, mounted for the time of the export."""
    from ..storage.copying import write_archive

    path = runtime.volumes.mount_for_user(name)
    try:
        write_archive(path, "/.", target)
    finally:
        runtime.volumes.unmount_for_user(name)


def import_volume(runtime: "Runtime", name: str, stream) -> None:
    """Unpack a tar stream into the volume (nothing in it may escape the volume)."""
    from ..storage.copying import extract_archive

    path = runtime.volumes.mount_for_user(name)
    try:
        extract_archive(path, "/", stream)
    finally:
        runtime.volumes.unmount_for_user(name)


def mount_document(runtime: "Runtime", mount: Mount) -> dict:
    """One entry of inspect's `Mounts` (podman's and Docker's fields alike): a
    volume shows its name, driver and host directory."""
    document = {"Type": mount.type, "Source": mount.source, "Destination": mount.destination, "Driver": "",
                "Mode": "", "Options": [o for o in mount.options if o not in _VOLUME_ONLY_OPTIONS],
                "RW": "ro" not in mount.options, "Propagation": "rprivate" if mount.type == "bind" else ""}
    if mount.type == "volume":
        document["Name"] = mount.source
        try:
            volume = runtime.volumes.get(mount.source)
            document["Source"], document["Driver"] = runtime.volumes.path(volume), volume.driver
        except NoSuchVolume:
            document["Source"] = ""
    return document
