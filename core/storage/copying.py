"""Copying files into and out of a root filesystem (`husk cp`, the archive API).

Out: the path is looked up with :mod:`husk.storage.rootpath` (symlinks followed only
inside the root), then the tar is written from descriptors opened relative to
the resolved directory, one `O_NOFOLLOW` step at a time; a link swapped in
while we walk is read as a link, never followed, so nothing outside the root
is read.  Python's tarfile writes it (GNU tar, which `husk export` uses, names
members by paths, and a copy must name its top member freely: `docker cp
ctr:/etc/hostname ./x` archives `hostname`, a rename archives the new name).

In: the tar is unpacked by :func:`husk.storage.layers.extract_tree`, in a child
chrooted into the root and standing in the destination directory, so no
member name, symlink or hardlink can reach outside the root whatever the
archive built before it.  It is staged first and moved into place only when
all of it unpacked: a refused archive leaves nothing of itself behind.

The stat is Docker's `X-Docker-Container-Path-Stat` document: the mode is Go's
os.FileMode (permission bits plus type and special bits high up).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from typing import BinaryIO

import msgspec

from ..define import InvalidArgument, NoSuchPath

# Go's os.FileMode bits (io/fs), as Docker encodes the stat's mode.
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_NAMED_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHAR_DEVICE = 1 << 21
GO_MODE_STICKY = 1 << 20

_READ_CHUNK = 1 << 20
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathStat(msgspec.Struct, frozen=True):
    """What Docker reports about a copied path (`HEAD /containers/{id}/archive`).

    :param mode: Go's os.FileMode of the path (see :func:`go_file_mode`)
    :param mtime_ns: modification time, nanoseconds since the epoch
    :param link_target: for a symlink, the absolute path inside the root it
        resolves to (empty otherwise); the docker CLI copies that with `-L`
    """

    name: str
    size: int
    mode: int
    mtime_ns: int
    link_target: str = ""

    def docker(self) -> dict:
        from ..formats.timestamps import format_rfc3339_nano

        return {"name": self.name, "size": self.size, "mode": self.mode,
                "mtime": format_rfc3339_nano(self.mtime_ns), "linkTarget": self.link_target}

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & GO_MODE_DIR)


def go_file_mode(st_mode: int) -> int:
    """A Unix st_mode as Go's os.FileMode."""
    mode = stat.S_IMODE(st_mode) & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {stat.S_IFDIR: GO_MODE_DIR, stat.S_IFLNK: GO_MODE_SYMLINK, stat.S_IFIFO: GO_MODE_NAMED_PIPE,
             stat.S_IFSOCK: GO_MODE_SOCKET, stat.S_IFBLK: GO_MODE_DEVICE,
             stat.S_IFCHR: GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE}.get(kind, 0)
    for unix_bit, go_bit in ((stat.S_ISUID, GO_MODE_SETUID), (stat.S_ISGID, GO_MODE_SETGID),
                             (stat.S_ISVTX, GO_MODE_STICKY)):
        if st_mode & unix_bit:
            mode |= go_bit
    return mode


def _split(path: str) -> tuple[str, str]:
    """(parent, last component) of an absolute path inside the root; a path
    ending in "/." names the directory's contents (last component ".")."""
    if not path.startswith("/"):
        path = "/" + path
    if path.endswith("/.") or path == "/":
        return posixpath.normpath(path[:-1] or "/"), "."
    parent, base = posixpath.split(posixpath.normpath(path))
    return parent, base or "."


def _missing(path: str, exc: OSError) -> NoSuchPath:
    return NoSuchPath(f"{path}: {exc.strerror.lower() if exc.strerror else 'no such file or directory'}")


class _Resolved:
    """The parent directory of a path, opened inside the root, and its last component."""

    def __init__(self, rootfs: str, path: str) -> None:
        from .rootpath import open_path

        self.parent_path, self.base = _split(path)
        try:
            self.parent_fd = open_path(rootfs, self.parent_path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(path, exc) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InvalidArgument(f"{path}: too many levels of symbolic links") from None
            raise
        if not stat.S_ISDIR(os.fstat(self.parent_fd).st_mode):
            os.close(self.parent_fd)
            raise NoSuchPath(f"{path}: not a directory")

    def lstat(self, path: str) -> os.stat_result:
        if self.base == ".":
            return os.fstat(self.parent_fd)
        try:
            return os.stat(self.base, dir_fd=self.parent_fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(path, exc) from None

    def close(self) -> None:
        os.close(self.parent_fd)


def locate(rootfs: str, binds: list[tuple[str, str]], path: str) -> tuple[str, str]:
    """Where `path` of the container lives: (root, path inside that root).

    A path at or below the destination of a bind mount (a volume, `-v`, the
    /etc/hostname husk writes) is in the mount's source, as the container sees
    it; anything else is in the rootfs.  The match is on the path as written
    (symlinks before the mount point are not followed).  A file bind becomes
    its directory and name; a bind whose source is gone is ignored.

    :param binds: (destination, host source) of the container's bind mounts
    """
    normal = posixpath.normpath("/" + path)
    best = ""
    source = ""
    for destination, bind_source in binds:
        destination = posixpath.normpath("/" + destination)
        inside = normal == destination or normal.startswith(destination.rstrip("/") + "/")
        if inside and len(destination) > len(best) and os.path.lexists(bind_source):
            best, source = destination, bind_source
    if not best:
        return rootfs, path
    rest = normal[len(best):] or "/"
    if os.path.isdir(source):
        return source, rest + ("/." if path.endswith("/.") and rest != "/" else "")
    if rest != "/":
        raise NoSuchPath(f"{path}: not a directory")
    return os.path.dirname(source), "/" + os.path.basename(source)


def _inside_path(rootfs: str, fd: int) -> str:
    """The absolute path inside `rootfs` of an open descriptor that lies in it."""
    real_root = os.path.realpath(rootfs)
    where = os.readlink(f"/proc/self/fd/{fd}")
    relative = os.path.relpath(where, real_root)
    return "/" if relative == "." else "/" + relative


def stat_path(rootfs: str, path: str, name: str | None = None) -> PathStat:
    """The stat of `path` inside `rootfs`; a final symlink is not followed (its
    `link_target` says where it leads).

    :param name: the name to report (default: the path's last component)
    :raises NoSuchPath: nothing there.
    """
    from .rootpath import open_path

    resolved = _Resolved(rootfs, path)
    try:
        st = resolved.lstat(path)
        target = ""
        if stat.S_ISLNK(st.st_mode):
            try:
                fd = open_path(rootfs, posixpath.join(resolved.parent_path, resolved.base))
            except OSError:
                target = ""  # a dangling link: Docker reports it with no target too
            else:
                try:
                    target = _inside_path(rootfs, fd)
                finally:
                    os.close(fd)
        if name is None:
            name = posixpath.basename(posixpath.normpath("/" + path)) or "/"
        return PathStat(name=name, size=st.st_size, mode=go_file_mode(st.st_mode), mtime_ns=st.st_mtime_ns,
                        link_target=target)
    finally:
        resolved.close()


def write_archive(rootfs: str, path: str, target: BinaryIO, *, follow_link: bool = False,
                  name: str | None = None) -> PathStat:
    """Write `path` (inside `rootfs`) and, for a directory, everything under it
    as a tar stream to `target`; returns the path's stat.

    :param follow_link: a final symlink is archived as what it points to (still
        under the link's name); otherwise as the link itself.
    :param name: the top member's name (default: the path's last component,
        "." for a path ending in "/.", whose members are the directory's contents).
    :raises NoSuchPath: nothing there.
    """
    import tarfile

    path_stat = stat_path(rootfs, path, name)
    if follow_link and path_stat.link_target:
        path = path_stat.link_target
    resolved = _Resolved(rootfs, path)
    try:
        resolved.lstat(path)
        top = name if name is not None else (resolved.base if resolved.base != "." else ".")
        with tarfile.open(fileobj=target, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            writer = _TreeWriter(archive)
            if resolved.base == ".":
                directory = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=resolved.parent_fd)
                writer.add_directory(directory, top, os.fstat(directory))
            else:
                writer.add(resolved.parent_fd, resolved.base, top)
    finally:
        resolved.close()
    return path_stat


class _TreeWriter:
    """Adds members to a tar from descriptors, never following a symlink."""

    def __init__(self, archive) -> None:
        self.archive = archive
        self.hardlinks: dict[tuple[int, int], str] = {}

    def _info(self, arcname: str, st: os.stat_result):
        import tarfile

        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = st.st_mtime
        return info

    def add(self, dir_fd: int, entry: str, arcname: str) -> None:
        import tarfile

        try:
            st = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return  # removed while we walked (a running container)
        info = self._info(arcname, st)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFDIR:
            try:
                fd = os.open(entry, _DIR_OPEN, dir_fd=dir_fd)
            except FileNotFoundError:
                return
            self.add_directory(fd, arcname, st)
            return
        if kind == stat.S_IFREG:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.hardlinks:
                info.type, info.linkname = tarfile.LNKTYPE, self.hardlinks[key]
                self.archive.addfile(info)
                return
            self._add_file(dir_fd, entry, info)
            if st.st_nlink > 1:
                self.hardlinks[key] = arcname
            return
        if kind == stat.S_IFLNK:
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(entry, dir_fd=dir_fd)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif kind == stat.S_IFIFO:
            info.type = tarfile.FIFOTYPE
        else:
            return  # sockets have no tar form (Docker skips them too)
        self.archive.addfile(info)

    def add_directory(self, fd: int, arcname: str, st: os.stat_result) -> None:
        """Add the directory open at `fd` (closed here) and its entries, sorted."""
        import tarfile

        try:
            info = self._info(arcname, st)
            info.type = tarfile.DIRTYPE
            self.archive.addfile(info)
            prefix = arcname.rstrip("/") + "/"
            for entry in sorted(os.listdir(fd)):
                self.add(fd, entry, prefix + entry)
        finally:
            os.close(fd)

    def _add_file(self, dir_fd: int, entry: str, info) -> None:
        """A regular file, its size as it is when opened; a file that shrinks
        meanwhile (a running container writing it) is padded with zeros, one
        that grows is cut, so the archive stays well-formed."""
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
        except FileNotFoundError:
            return
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(file.fileno())
            if not stat.S_ISREG(st.st_mode):
                return  # swapped for something else while we walked
            info.size = st.st_size
            self.archive.addfile(info, _Exactly(file, st.st_size))


class _Exactly:
    """A file read as exactly `size` bytes (zero-padded if it shrank)."""

    def __init__(self, file, size: int) -> None:
        self.file, self.left = file, size

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.left:
            size = self.left
        data = self.file.read(size)
        if len(data) < size:
            data += bytes(size - len(data))
        self.left -= len(data)
        return data


def extract_archive(rootfs: str, path: str, stream: BinaryIO, *, owner: tuple[int, int] | None = None,
                    no_overwrite_dir_non_dir: bool = False, allow_devices: bool = False) -> None:
    """Unpack the tar read from `stream` into the directory `path` inside `rootfs`.

    The stream is read once, in chunks (it may be a request body); gzip, xz,
    bzip2 (and zstd when installed) are recognised.

    :param owner: (uid, gid) every extracted member gets; None keeps the archive's.
    :param no_overwrite_dir_non_dir: refuse to replace a directory with a
        non-directory or the reverse (Docker's `noOverwriteDirNonDir`).
    :param allow_devices: accept device nodes (for privileged containers only:
        a node the container could open would reach the host's devices).
    :raises NoSuchPath: the directory is missing.
    :raises InvalidArgument: `path` is no directory; a corrupt or refused archive.
    """
    from .layers import extract_tree

    resolved = _Resolved(rootfs, path)
    try:
        st = resolved.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            from .rootpath import open_path

            try:
                fd = open_path(rootfs, posixpath.join(resolved.parent_path, resolved.base))
            except (FileNotFoundError, NotADirectoryError) as exc:
                raise _missing(path, exc) from None
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"extraction point is not a directory: {path}")
    finally:
        resolved.close()
    # The child resolves the path again inside its chroot, where the root is "/".
    workdir = posixpath.normpath("/" + path).lstrip("/") or "."
    check = _MemberCheck(owner, no_overwrite_dir_non_dir, allow_devices)
    extract_tree(stream, rootfs, workdir=workdir, check=check, what="archive")


class _MemberCheck:
    """Runs in the chrooted child on each member: owner, devices, dir/non-dir."""

    def __init__(self, owner, no_overwrite_dir_non_dir: bool, allow_devices: bool) -> None:
        self.owner = owner
        self.no_overwrite_dir_non_dir = no_overwrite_dir_non_dir
        self.allow_devices = allow_devices

    def __call__(self, member):
        if member.isdev() and not member.isfifo() and not self.allow_devices:
            raise ValueError(f"member '{member.name}' is a device node, refused for an unprivileged container")
        if self.no_overwrite_dir_non_dir:
            here = posixpath.normpath(member.name.lstrip("/") or ".")
            if os.path.lexists(here):
                is_dir = os.path.isdir(here) and not os.path.islink(here)
                if is_dir and not member.isdir():
                    raise ValueError(f"cannot overwrite directory '{member.name}' with non-directory")
                if member.isdir() and not is_dir:
                    raise ValueError(f"cannot overwrite non-directory '{member.name}' with directory")
        if self.owner is not None:
            import copy

            member = copy.copy(member)
            member.uid, member.gid = self.owner
            member.uname = member.gname = ""
        return member
