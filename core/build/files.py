"""COPY and ADD: what they read (from the context, another stage or an image)
and the layer they write.

Sources are resolved inside their root (:func:`husk.storage.rootpath.open_path`:
symlinks followed only within it) and walked by descriptor, never following a
symlink (a symlink inside a copied directory is copied as a symlink).
Devices, fifos and sockets are skipped.  Each regular file's sha256 is taken
while gathering: the cache key of the step is made of them.

The layer is a tar written directly (no container): the destination is
resolved through the symlinks of the image being built (scoped to its
rootfs), and every parent directory the layer names carries the attributes
it has in the image, so copying into /tmp never turns its 1777 into 0755."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import os
import posixpath
import stat
import tarfile
import tempfile
import time
from typing import TYPE_CHECKING

from ..define import HuskError, InvalidArgument
from .ignore import Pattern, excluded, has_exceptions

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..storage.layer_store import StagedLayer

_GLOB = set("*?[")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One thing to write: `target` is relative to where its source lands ("" for the source itself)."""

    target: str
    kind: str  # file, dir, link, data (a heredoc's content)
    mode: int
    uid: int = 0
    gid: int = 0
    mtime: float = 0.0
    size: int = 0
    source: str = ""  # the path inside the source root, resolved
    link: str = ""
    digest: str = ""
    data: bytes = b""


@dataclasses.dataclass
class Source:
    """One matched source: a file (one entry), a directory (its contents) or an archive ADD unpacks."""

    root: str
    name: str
    is_dir: bool
    entries: list[Entry]
    archive: bool = False

    def checksum_fields(self) -> list:
        return [self.name, self.is_dir, self.archive,
                [(e.target, e.kind, e.mode, e.uid, e.gid, e.size, e.link, e.digest) for e in self.entries]]


def _inside(root: str, fd: int) -> str:
    real_root = os.path.realpath(root)
    path = os.readlink(f"/proc/self/fd/{fd}")
    relative = os.path.relpath(path, real_root)
    if relative == ".":
        return ""
    if relative.startswith(".."):
        raise HuskError(f"{path} is outside {real_root}")  # cannot happen: open_path stays inside
    return relative


def _hash_fd(fd: int) -> str:
    digest = hashlib.sha256()
    while True:
        block = os.read(fd, 1 << 20)
        if not block:
            return digest.hexdigest()
        digest.update(block)


def _file_entry(target: str, st: os.stat_result, source: str, fd: int, keep_owner: bool) -> Entry:
    return Entry(target, "file", stat.S_IMODE(st.st_mode), st.st_uid if keep_owner else 0,
                 st.st_gid if keep_owner else 0, st.st_mtime, st.st_size, source, digest=_hash_fd(fd))


def _walk(dir_fd: int, relative: str, prefix: str, patterns: list[Pattern], keep_owner: bool) -> list[Entry]:
    entries = []
    descend_excluded = has_exceptions(patterns)
    for name in sorted(os.listdir(dir_fd)):
        path = f"{relative}/{name}" if relative else name
        target = f"{prefix}/{name}" if prefix else name
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        skip = excluded(path, patterns)
        if skip and not (stat.S_ISDIR(st.st_mode) and descend_excluded):
            continue
        owner = (st.st_uid, st.st_gid) if keep_owner else (0, 0)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                inner = _walk(fd, path, target, patterns, keep_owner)
            finally:
                os.close(fd)
            if not skip or inner:
                entries.append(Entry(target, "dir", stat.S_IMODE(st.st_mode), *owner, st.st_mtime, source=path))
            entries += inner
        elif stat.S_ISLNK(st.st_mode):
            entries.append(Entry(target, "link", 0o777, *owner, st.st_mtime, source=path,
                                 link=os.readlink(name, dir_fd=dir_fd)))
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                entries.append(_file_entry(target, os.fstat(fd), path, fd, keep_owner))
            finally:
                os.close(fd)
    return entries


def _matches(root: str, pattern: str, patterns: list[Pattern]) -> list[str]:
    """The paths a source names: itself, or what its last component's wildcards match."""
    from ..storage.rootpath import open_path

    if not _GLOB & set(pattern):
        return [pattern]
    parent, _, glob = pattern.rpartition("/")
    if _GLOB & set(parent):
        raise InvalidArgument(f"{pattern}: wildcards are supported in the last path component only")
    try:
        fd = open_path(root, parent)
    except OSError:
        return []
    try:
        directory = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        base = _inside(root, fd)
    finally:
        os.close(fd)
    try:
        names = sorted(os.listdir(directory))
    finally:
        os.close(directory)
    return [f"{parent}/{name}" for name in names if fnmatch.fnmatchcase(name, glob)
            and not excluded(f"{base}/{name}".lstrip("/"), patterns)]


def gather(root: str, source: str, patterns: list[Pattern], *, keep_owner: bool = False,
           archives: bool = False) -> list[Source]:
    """What a COPY/ADD source names inside `root`; `archives`: ADD's unpacking of a local tar.
    :raises InvalidArgument: nothing matches (or only excluded files)."""
    from ..storage.rootpath import open_path

    found = []
    for path in _matches(root, posixpath.normpath("/" + source), patterns):
        try:
            fd = open_path(root, path)
        except OSError:
            continue
        try:
            inside = _inside(root, fd)
            st = os.fstat(fd)
            if inside and excluded(inside, patterns):
                continue
            name = posixpath.basename(path.rstrip("/"))
            if stat.S_ISDIR(st.st_mode):
                directory = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    found.append(Source(root, name, True, _walk(directory, inside, "", patterns, keep_owner)))
                finally:
                    os.close(directory)
            elif stat.S_ISREG(st.st_mode):
                readable = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    entry = _file_entry("", os.fstat(readable), inside, readable, keep_owner)
                    os.lseek(readable, 0, os.SEEK_SET)
                    is_archive = archives and _is_archive(readable)
                finally:
                    os.close(readable)
                found.append(Source(root, name, False, [entry], archive=is_archive))
        finally:
            os.close(fd)
    if not found:
        raise InvalidArgument(f"checking on sources under {root!r}: {source}: no such file or directory"
                              if not _GLOB & set(source) else f"no source files were specified: {source}")
    return found


def _is_archive(fd: int) -> bool:
    with os.fdopen(os.dup(fd), "rb") as stream:
        try:
            with tarfile.open(fileobj=stream, mode="r:*") as archive:
                return archive.next() is not None
        except (tarfile.TarError, EOFError, OSError):
            return False


def heredoc_source(name: str, content: str) -> Source:
    data = content.encode()
    return Source("", name, False, [Entry("", "data", 0o644, mtime=time.time(), size=len(data),
                                          digest=hashlib.sha256(data).hexdigest(), data=data)])


# -- the layer ---------------------------------------------------------------------------------
def _resolve(rootfs: str, path: str) -> str:
    """`path` (absolute) with its existing components resolved inside `rootfs`, as a
    relative path whose existing part has no symlink; missing components kept as written."""
    from ..storage.rootpath import open_path

    parts = [part for part in path.split("/") if part]
    resolved = ""
    for index, part in enumerate(parts):
        try:
            fd = open_path(rootfs, f"{resolved}/{part}")
        except (FileNotFoundError, NotADirectoryError):
            return "/".join([resolved, *parts[index:]]).strip("/")
        try:
            resolved = _inside(rootfs, fd)
        finally:
            os.close(fd)
    return resolved


def _is_dir(rootfs: str, relative: str) -> bool:
    return os.path.isdir(os.path.join(rootfs, relative)) and not os.path.islink(os.path.join(rootfs, relative))


@dataclasses.dataclass(frozen=True)
class Placement:
    dest: str
    owner: tuple[int, int] | None = None
    chmod: int | None = None


def write_layer(runtime: "Runtime", rootfs: str, sources: list[Source], placement: Placement) -> "StagedLayer":
    """The layer that puts `sources` at `placement.dest` (absolute) in the image whose
    root filesystem is mounted at `rootfs`; committed, so its digest can be used."""
    from ..storage.layer_store import store_layer

    dest = placement.dest
    into_dir = dest.endswith("/") or len(sources) > 1 or any(s.is_dir or s.archive for s in sources)
    real_dest = _resolve(rootfs, dest)
    if not into_dir and real_dest and _is_dir(rootfs, real_dest):
        into_dir = True
    with tempfile.TemporaryFile(dir=runtime.paths.root) as spool:
        with tarfile.open(fileobj=spool, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            writer = _LayerWriter(archive, rootfs, placement)
            for source in sources:
                if source.archive:
                    writer.unpack(source, real_dest)
                elif source.is_dir:
                    for entry in source.entries:
                        writer.add(entry, posixpath.join(real_dest, entry.target), source.root)
                else:
                    target = posixpath.join(real_dest, source.name) if into_dir else real_dest
                    writer.add(source.entries[0], target, source.root)
        spool.seek(0)
        return store_layer(runtime, spool)


class _LayerWriter:
    def __init__(self, archive: tarfile.TarFile, rootfs: str, placement: Placement) -> None:
        self.archive, self.rootfs, self.placement = archive, rootfs, placement
        self.written: set[str] = set()

    def _parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            parent = "/".join(parts[:depth])
            if parent in self.written:
                continue
            self.written.add(parent)
            info = tarfile.TarInfo(parent)
            info.type = tarfile.DIRTYPE
            full = os.path.join(self.rootfs, parent)
            if _is_dir(self.rootfs, parent):
                st = os.lstat(full)
                info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
                info.uid, info.gid = st.st_uid, st.st_gid
            else:
                info.mode, info.mtime = 0o755, int(time.time())
                if self.placement.owner:
                    info.uid, info.gid = self.placement.owner
            self.archive.addfile(info)

    def add(self, entry: Entry, path: str, root: str) -> None:
        from ..storage.rootpath import open_path

        path = path.strip("/")
        if not path:
            return  # the destination's root itself: its attributes stay the image's
        self._parents(path)
        self.written.add(path)
        info = tarfile.TarInfo(path)
        info.mode, info.mtime = entry.mode, int(entry.mtime)
        info.uid, info.gid = self.placement.owner or (entry.uid, entry.gid)
        if self.placement.chmod is not None and entry.kind != "link":
            info.mode = self.placement.chmod
        if entry.kind == "dir":
            info.type = tarfile.DIRTYPE
            self.archive.addfile(info)
        elif entry.kind == "link":
            info.type, info.linkname = tarfile.SYMTYPE, entry.link
            self.archive.addfile(info)
        elif entry.kind == "data":
            import io

            info.size = len(entry.data)
            self.archive.addfile(info, io.BytesIO(entry.data))
        else:
            fd = open_path(root, entry.source)
            try:
                with open(f"/proc/self/fd/{fd}", "rb") as stream:
                    st = os.fstat(stream.fileno())
                    if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
                        raise HuskError(f"{entry.source} changed while the build read it")
                    info.size = entry.size
                    self.archive.addfile(info, stream)
            finally:
                os.close(fd)

    def unpack(self, source: Source, real_dest: str) -> None:
        """ADD's local archive: its members under the destination (never above it)."""
        from ..storage.rootpath import open_path

        fd = open_path(source.root, source.entries[0].source)
        try:
            with open(f"/proc/self/fd/{fd}", "rb") as stream, tarfile.open(fileobj=stream, mode="r|*") as archive:
                for member in archive:
                    name = _inside_dest(member.name, source.name)
                    data = archive.extractfile(member) if member.isfile() else None
                    member.name = posixpath.join(real_dest, name).strip("/")
                    if member.islnk():
                        member.linkname = posixpath.join(real_dest, _inside_dest(member.linkname,
                                                                                 source.name)).strip("/")
                    if not member.name:
                        continue
                    self._parents(member.name)
                    self.written.add(member.name)
                    self.archive.addfile(member, data)
        except tarfile.TarError as exc:
            raise InvalidArgument(f"ADD {source.name}: {exc}") from None
        finally:
            os.close(fd)


def _inside_dest(name: str, archive_name: str) -> str:
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    if posixpath.normpath(name.lstrip("/")).startswith(".."):
        raise InvalidArgument(f"ADD {archive_name}: member {name!r} leaves the destination")
    return "" if cleaned == "." else cleaned
