"""`husk commit` and `husk diff`: a container's changes, read from its overlay
`upper` directory.

overlayfs keeps a container's changes in `upper`: new and changed files as
they are, a deleted one as a whiteout (a character device 0/0), a directory
whose lower contents are hidden with the `trusted.overlay.opaque` xattr.  A
commit writes them as an OCI layer (whiteouts become `.wh.NAME`, opaque
directories get `.wh..wh..opq`), stores it as any layer is stored (unpacked
by the chrooted child, so the same rules hold), and registers an image whose
config is the base image's with the container's settings and `--change`s.

The container may have put anything in `upper`: the walk never follows a
symlink, and each file is opened with O_NOFOLLOW relative to its directory's
descriptor, so a path swapped for a symlink mid-walk cannot make husk read a
host file into the image.
"""

from __future__ import annotations

import os
import stat
import tarfile
import tempfile
import time
from typing import TYPE_CHECKING, Collection

from ..define import HuskError

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..state.records import ImageConfig, ImageRecord
    from .layer_store import StagedLayer

OPAQUE_XATTR = "trusted.overlay.opaque"


def upper_dir(runtime: "Runtime", container_id: str) -> str:
    """The container's overlay upper directory; a container never mounted has none
    yet, and no changes (the walk of a missing directory yields nothing)."""
    return os.path.join(runtime.paths.container_dir(container_id), "upper")


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(dir_fd: int, name: str) -> bool:
    try:
        return os.getxattr(f"/proc/self/fd/{dir_fd}/{name}", OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _walk(upper: str, placeholders: Collection[str] = ()):
    """(relative path, name, stat, dir_fd) of everything in `upper`, parents first, no symlink followed.
    A non-directory at one of `placeholders` (relative paths) is left out: see :func:`commit_image`."""
    if not os.path.isdir(upper):
        return
    for directory, dirnames, filenames, dir_fd in os.fwalk(upper, follow_symlinks=False):
        relative = os.path.relpath(directory, upper)
        for name in sorted(dirnames + filenames):
            path = ("" if relative == "." else relative + "/") + name
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if path in placeholders and not stat.S_ISDIR(st.st_mode):
                continue
            yield path, name, st, dir_fd
        dirnames.sort()


def changes(runtime: "Runtime", upper: str, lower_layers: list[str],
            placeholders: Collection[str] = ()) -> list[tuple[str, str]]:
    """podman's `diff` of a directory in overlay form (a container's upper, or an
    image's top layer) over `lower_layers`: ("A"|"C"|"D", "/path"), sorted by
    path.  "C" when a lower layer has the path (or it is an opaque directory),
    "A" when it is new; `placeholders` as for :func:`commit_image`."""
    lowers = [runtime.paths.layer_diff(layer) for layer in lower_layers]

    def in_lower(path: str) -> bool:
        return any(os.path.lexists(os.path.join(lower, path)) for lower in lowers)

    found = []
    for path, name, st, dir_fd in _walk(upper, placeholders):
        if _is_whiteout(st):
            found.append(("D", "/" + path))
        elif in_lower(path) or _is_opaque(dir_fd, name):
            found.append(("C", "/" + path))
        else:
            found.append(("A", "/" + path))
    return sorted(found, key=lambda change: change[1])


def container_changes(runtime: "Runtime", container_id: str, image_id: str) -> list[tuple[str, str]]:
    return changes(runtime, upper_dir(runtime, container_id), runtime.store.image(image_id).layers,
                   generated_targets(runtime, container_id))


def generated_targets(runtime: "Runtime", container_id: str) -> frozenset[str]:
    """Where husk binds the files it generates for the container (hosts, hostname,
    resolv.conf, .containerenv, secrets), relative to the rootfs, as its bundle
    says.  The runtime leaves an empty mount target at each in the upper
    directory: no change the user made, so `diff` hides it and `commit` leaves it
    out (as docker does; podman 4.3 commits the empty files).  A file the user
    writes there goes to the bound file, never into the image."""
    import json

    userdata = runtime.paths.userdata(container_id)
    own = (userdata + "/", runtime.paths.container_run_dir(container_id) + "/")
    try:
        with open(os.path.join(userdata, "config.json"), "rb") as bundle:
            mounts = json.load(bundle).get("mounts") or []
    except FileNotFoundError:
        return frozenset()
    return frozenset(os.path.normpath(m["destination"]).lstrip("/") for m in mounts
                     if m.get("type") == "bind" and str(m.get("source", "")).startswith(own))


def image_changes(runtime: "Runtime", image: "ImageRecord") -> list[tuple[str, str]]:
    """What the image's top layer changes over the layers below it."""
    if not image.layers:
        return []
    return changes(runtime, runtime.paths.layer_diff(image.layers[-1]), image.layers[:-1])


def _write_layer(upper: str, out, placeholders: Collection[str] = ()) -> None:
    """The upper directory as an OCI layer tar (PAX, numeric owners)."""
    hardlinks: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for path, name, st, dir_fd in _walk(upper, placeholders):
            parent, _, base = path.rpartition("/")
            if _is_whiteout(st):
                info = tarfile.TarInfo((parent + "/" if parent else "") + ".wh." + base)
                info.mtime = int(st.st_mtime)
                archive.addfile(info)
                continue
            info = tarfile.TarInfo(path)
            info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
                if _is_opaque(dir_fd, name):
                    marker = tarfile.TarInfo(path + "/.wh..wh..opq")
                    marker.mtime = info.mtime
                    archive.addfile(marker)
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dir_fd)
                archive.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in hardlinks:
                    info.type, info.linkname = tarfile.LNKTYPE, hardlinks[key]
                    archive.addfile(info)
                    continue
                hardlinks[key] = path
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                with os.fdopen(fd, "rb") as stream:
                    opened = os.fstat(fd)
                    if (opened.st_dev, opened.st_ino) != key:
                        raise HuskError(f"{path} changed while it was committed")
                    info.size = opened.st_size
                    archive.addfile(info, stream)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                archive.addfile(info)
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
                archive.addfile(info)
            # sockets are not archived (as tar and podman do)


def commit_layer(runtime: "Runtime", container_id: str, squash_from: str = "",
                 lower_layers: Collection[str] = (), mount_targets: Collection[str] = ()) -> "StagedLayer":
    """The container's changes (without the mount targets of :func:`generated_targets`,
    nor `mount_targets`: a build step's own mounts) stored as a layer; the returned
    layer is committed already (its `digest` and `size`).
    With `squash_from` (the container's mounted rootfs over `lower_layers`) the
    layer is the whole root filesystem instead (`commit --squash`)."""
    from .layer_store import store_layer

    upper = upper_dir(runtime, container_id)
    placeholders = generated_targets(runtime, container_id) | frozenset(mount_targets)
    if squash_from:  # a mount target over a file of the image's is the image's file
        lowers = [runtime.paths.layer_diff(layer) for layer in lower_layers]
        placeholders = frozenset(path for path in placeholders if os.path.lexists(os.path.join(upper, path))
                                 and not any(os.path.lexists(os.path.join(lower, path)) for lower in lowers))
    with tempfile.TemporaryFile(dir=runtime.paths.root) as spool:
        _write_layer(squash_from or upper, spool, placeholders)
        spool.seek(0)
        return store_layer(runtime, spool)


def squash_layers(runtime: "Runtime", base_layers: list[str], layers: list[str]) -> "StagedLayer":
    """`layers` (bottom-most first) as one layer over `base_layers`: applied in
    turn (whiteouts and opaque directories included) onto an overlay of the base,
    whose upper directory is then that one layer (`build --squash`, `--layers=false`;
    with no base, `--squash-all`)."""
    import shutil

    from .layer_store import store_layer
    from .rootfs import _copy_layers, mount_overlay, unmount

    directory = tempfile.mkdtemp(dir=runtime.paths.root, prefix="squash-")
    try:
        upper = os.path.join(directory, "upper")
        if base_layers:
            merged = mount_overlay([runtime.paths.layer_diff(layer) for layer in reversed(base_layers)], directory)
        else:
            merged = upper
            os.mkdir(upper, 0o755)
        try:
            _copy_layers([runtime.paths.layer_diff(layer) for layer in reversed(layers)], merged)
        finally:
            if base_layers:
                unmount(merged)
        with tempfile.TemporaryFile(dir=runtime.paths.root) as spool:
            _write_layer(upper, spool)
            spool.seek(0)
            return store_layer(runtime, spool)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def commit_image(runtime: "Runtime", container_id: str, base: "ImageRecord", config: "ImageConfig",
                 reference: str = "", message: str = "", author: str = "", squash_from: str = "",
                 docker: bool = False) -> "ImageRecord":
    """A new image: `base` plus the container's changes as one more layer, with `config`,
    without the mount targets of :func:`generated_targets`; with `squash_from`
    (the container's mounted rootfs), that rootfs as the image's only layer.
    `docker` makes a Docker-format config (podman's `--format docker`): the
    message as its top-level `comment`, and `container_config`, which is what
    marks a config as Docker's (its ManifestType, see husk.presentation.images).
    The caller keeps the container from changing meanwhile (pauses it)."""
    import json

    from .images import _rfc3339, config_blob, image_id, normalize
    from ..state.records import ImageRecord

    names = [normalize(reference)] if reference else []
    layer = commit_layer(runtime, container_id, squash_from, base.layers)
    created = time.time()
    history = json.loads(base.config_json).get("history") or [] if base.config_json and not squash_from else []
    history = [*history, {"created": _rfc3339(created), "created_by": "husk commit --squash" if squash_from else "husk commit",
                          "author": author, "comment": message}]
    layers = [layer.digest] if squash_from else [*base.layers, layer.digest]
    document = json.loads(config_blob(config, layers, created, history))
    if author:
        document["author"] = author
    if docker:
        document["container_config"] = document.get("config", {})
        if message:
            document["comment"] = message
    from ..formats.environment import utf8_json

    config_json = utf8_json(document).encode()
    image = ImageRecord(id=image_id(config_json), names=names, layers=layers, created=created,
                        size=layer.size + (0 if squash_from else base.size), config=config, config_json=config_json.decode())
    runtime.store.put_image(image)
    runtime.emit("commit", id=image.id, name=names[0] if names else "", image=image.id, type="image")
    return image
