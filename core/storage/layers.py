"""Unpacking an image layer (a tar, maybe compressed) into a layer directory.

Python's own tarfile filters are wrong for a root filesystem: `data` refuses
absolute symlinks and device nodes, and both `data` and `tar` strip setuid and
sticky bits (`/tmp` 1777 would become 755).  So the tar is unpacked by a forked
child that has chrooted into the target directory: no member, symlink or
hardlink can reach outside it, whatever the archive built earlier.  The child
runs tarfile with husk's own filter (:class:`_LayerFilter`), which keeps modes,
numeric owners, mtimes, absolute symlinks, device nodes and fifos, refuses
names that climb above the root, and turns OCI whiteouts into what overlayfs
reads in a lower directory.  A pull from a registry asks it to refuse device
nodes too (``refuse_devices``): a registry's layer is a stranger's, while a
loaded archive (podman's or docker's `save`) keeps them, as podman's load does.

The parent reads the input once (it may be a pipe), decompresses it, hashes the
uncompressed bytes (the layer's diff_id) and streams them to the child.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import posixpath
import shutil
import stat
import zlib
from typing import BinaryIO

from ..define import HuskError, InvalidArgument

#: what the parent reads, hashes, inflates and passes on at a time: large enough that
#: the layer threads seldom hand each other the GIL, small enough to stay in the
#: CPU's cache and in memory malloc reuses (1 MiB pieces were fresh pages each time:
#: twice the page faults of a pull, and 10% more CPU)
CHUNK_SIZE = 128 << 10
#: the modules the unpacking child imports (see _extract_in_child)
_CHILD_IMPORTS = ("copy", "tarfile")
#: errors of unpacking that the archive's own members cause
_ARCHIVE_ERRNOS = frozenset({errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENOENT, errno.ENOTEMPTY})

#: overlayfs's marker of an opaque directory (lower layers' entries are hidden)
OPAQUE_XATTR = "trusted.overlay.opaque"
_WHITEOUT_PREFIX = ".wh."
_OPAQUE_MARKER = ".wh..wh..opq"
#: other `.wh..wh.` names are aufs bookkeeping (hardlink dirs) and carry nothing
_AUFS_META_PREFIX = ".wh..wh."

# Magic bytes at the start of a compressed stream.
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_BZIP2_MAGIC = b"BZh"


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """What unpacking learnt about a layer.

    :param digest: ``sha256:<hex>`` of the uncompressed tar, i.e. the OCI diff_id
    :param size: length in bytes of the uncompressed tar (what containers/storage
        calls the uncompressed size)
    """

    digest: str
    size: int


class _LayerEscape(Exception):
    """A member the layer may not hold (it would land outside it, or is a refused
    device node); the message is the user's line."""


def extract_layer(stream: BinaryIO, target_dir: str, *, refuse_devices: bool = False) -> LayerInfo:
    """Unpack the layer tar read from ``stream`` into ``target_dir`` (created if missing).

    The stream is read once, in chunks, and may be a pipe.  Plain tar and gzip
    are always understood, xz and bzip2 too (the standard library has them),
    zstd when the ``zstandard`` module is importable; the format is told by
    magic bytes.  On any failure ``target_dir`` is removed and the error is an
    :class:`InvalidArgument` ("invalid layer: <reason>") for a bad archive, or a
    :class:`HuskError` for a host problem (disk full, ...).

    :param refuse_devices: a character or block device member makes the layer
        invalid (a pull from a registry); whiteouts are still written as the
        0/0 devices overlayfs reads.
    """
    os.makedirs(target_dir, exist_ok=True)

    def make_filter():
        return _LayerFilter(refuse_devices=refuse_devices)

    try:
        return _extract_in_child(stream, target_dir, make_filter=make_filter)
    except BaseException:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise


def layer_digest(stream: BinaryIO) -> LayerInfo:
    """The diff_id and size of a layer tar (plain or compressed) without unpacking
    it: what a load checks of a layer it already has, instead of trusting the
    archive's word for it."""
    digest = hashlib.sha256()
    size = 0
    try:
        tar_stream = _decompressing_reader(stream)
        while chunk := tar_stream.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    except Exception as exc:  # noqa: BLE001 - any decompressor's error, as one line
        raise _as_husk_error(exc) from None
    return LayerInfo(digest=f"sha256:{digest.hexdigest()}", size=size)


def extract_tree(stream: BinaryIO, root: str, *, workdir: str = ".", check=None, what: str = "archive") -> None:
    """Unpack a tar of plain files (`.wh.` names are no whiteouts here) under
    `workdir` of `root`, in a child chrooted into `root` as layers are; `husk cp` uses it.

    :param check: called in the child with each member (names as in the archive)
        before it is extracted; returns the member to extract (maybe changed) or
        raises ValueError to refuse the archive.
    :raises InvalidArgument: a bad or refused archive ("invalid <what>: ...").
    """
    def make_filter():
        return _TreeFilter(check)

    _extract_in_child(stream, root, workdir=workdir, make_filter=make_filter, what=what)


def _extract_in_child(stream: BinaryIO, target_dir: str, *, make_filter, workdir: str = ".",
                      what: str = "layer") -> LayerInfo:
    """Unpack in a child chrooted into `target_dir`, relative to `workdir` inside it.

    :param make_filter: builds the member filter in the child (a layer's
        :class:`_LayerFilter`; `husk cp`'s has no whiteouts).
    :param what: names the archive in error messages ("invalid <what>: ...").
    """
    # What the child imports is imported here first: a module that another
    # thread is importing at the moment of the fork stays locked in the child
    # for ever (`husk cp` archives in a thread while this unpacks; the service
    # runs many requests at once).
    import importlib

    for module in _CHILD_IMPORTS:
        importlib.import_module(module)

    data_read, data_write = os.pipe()
    error_read, error_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(data_write)
        os.close(error_read)
        _child_unpack(target_dir, data_read, error_write, workdir, make_filter)
    os.close(data_read)
    os.close(error_write)
    parent_error: BaseException | None = None
    digest = hashlib.sha256()
    size = 0
    try:
        try:
            tar_stream = _decompressing_reader(stream)
            while chunk := tar_stream.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
                if not _write_all(data_write, chunk):
                    break  # the child failed (it reads to the end otherwise); it says why
        except Exception as exc:  # noqa: BLE001 - reported below, after the child's verdict
            parent_error = exc
        finally:
            os.close(data_write)  # the child sees the end of the tar
        child_error = _read_all(error_read)
    finally:
        # Even when we are interrupted the child is waited for, not killed: its input has
        # ended, so it refuses the cut archive and removes its staging directory (a killed
        # child would leave `.husk-cp-*` in the destination).
        os.close(error_read)
        _, status = os.waitpid(pid, 0)
    if parent_error is not None:
        raise _as_husk_error(parent_error, what) from None
    if child_error or os.waitstatus_to_exitcode(status) != 0:
        kind, _, message = child_error.decode(errors="replace").partition(":")
        if kind == "invalid":
            raise InvalidArgument(f"invalid {what}: {message}")
        raise HuskError(f"cannot unpack {what}: {message or 'the unpacking process died'}")
    return LayerInfo(digest=f"sha256:{digest.hexdigest()}", size=size)


def _as_husk_error(exc: BaseException, what: str = "layer") -> HuskError:
    """The parent's own failure (decompression, reading the input) as one line."""
    if isinstance(exc, HuskError):
        return exc
    if isinstance(exc, EOFError):
        return InvalidArgument(f"invalid {what}: compressed stream is truncated")
    if isinstance(exc, OSError) and exc.errno is not None:  # gzip.BadGzipFile has none
        return HuskError(f"cannot read {what}: {exc.strerror}")
    return InvalidArgument(f"invalid {what}: {exc}")


def _write_all(fd: int, data: bytes) -> bool:
    """Write everything; False if the reading end has gone."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        return False
    return True


def _read_all(fd: int) -> bytes:
    parts = []
    while part := os.read(fd, 65536):
        parts.append(part)
    return b"".join(parts)


def peek_stream(stream: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """The first ``size`` bytes of ``stream`` (fewer at its end), and a stream
    that reads from the start again: how a reader tells a compression by its
    magic bytes without seeking (pipes and sockets cannot)."""
    head = b""
    while len(head) < size and (more := stream.read(size - len(head))):
        head += more
    return head, _PeekedStream(head, stream)


class _PeekedStream:
    """A read-only stream that first returns bytes already taken from ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._raw.read(size)


def _decompressing_reader(stream: BinaryIO):
    """A file-like object yielding the uncompressed tar, chosen by magic bytes."""
    head, raw = peek_stream(stream, 6)
    if head.startswith(_GZIP_MAGIC):
        return _GunzipReader(raw)
    if head.startswith(_ZSTD_MAGIC):
        try:
            import zstandard
        except ImportError:
            raise InvalidArgument(
                "invalid layer: it is zstd-compressed and the zstandard module is not installed"
            ) from None
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    if head.startswith(_XZ_MAGIC):
        import lzma

        return lzma.LZMAFile(raw)
    if head.startswith(_BZIP2_MAGIC):
        import bz2

        return bz2.BZ2File(raw)
    return raw


class _GunzipReader:
    """The uncompressed bytes of a gzip stream (one member or several), read
    from ``raw`` a :data:`CHUNK_SIZE` at a time.

    Not :class:`gzip.GzipFile`: Python 3.11's reads its input 8 KiB at a time,
    so a layer's bytes crossed the blob's sha256, the archive copy, a separate
    crc32 and inflate in 8 KiB pieces, each of them handing the GIL to the other
    layer threads and back; a pull spent more time switching than hashing.
    zlib checks each member's CRC and length itself (``wbits`` 31).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(31)
        self._pending = b""  # input read but not yet inflated

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # as io's readers: zero bytes asked, none given (``max_length`` 0 means "all")
            return b""
        while True:
            if self._inflate.eof:  # a member ended: another may follow (after zeros, as gzip(1) allows)
                rest = self._inflate.unused_data.lstrip(b"\0")
                while not rest:
                    more = self._raw.read(CHUNK_SIZE)
                    if not more:
                        return b""
                    rest = more.lstrip(b"\0")
                self._pending, self._inflate = rest, zlib.decompressobj(31)
            data = self._pending or self._raw.read(CHUNK_SIZE)
            if not data:
                raise EOFError("compressed stream is truncated")
            out = self._inflate.decompress(data, max(size, 0))
            self._pending = self._inflate.unconsumed_tail
            if out:
                return out


# -- the child ----------------------------------------------------------------------------


def _child_unpack(target_dir: str, data_fd: int, error_fd: int, workdir: str, make_filter) -> None:
    """Chroot into the layer directory and unpack the tar read from ``data_fd``.

    Paths stay relative to the working directory (the chroot's root), so that
    even a chroot that somehow did not happen could not aim at the host's files.

    Reports "invalid:<reason>" (a bad archive) or "error:<reason>" (a host
    problem) on ``error_fd`` and exits non-zero on failure.
    """
    import tarfile

    exit_code = 1
    try:
        # Drop every other inherited descriptor: one may be the write end of the
        # very pipe the parent reads the layer from, which would then never end.
        low, high = sorted((data_fd, error_fd))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, os.sysconf("SC_OPEN_MAX"))
        os.chroot(target_dir)
        os.chdir("/")
        os.chdir(workdir)  # inside the chroot: its symlinks resolve within it
        with os.fdopen(data_fd, "rb") as tar_input:
            layer_filter = make_filter()
            layer_filter.begin()
            try:
                with tarfile.open(fileobj=tar_input, mode="r|", errorlevel=2) as archive:
                    _extract_all(archive, layer_filter)
                layer_filter.finish()
            except BaseException:
                layer_filter.abort()
                raise
            while tar_input.read(CHUNK_SIZE):  # let the parent hash the trailing padding
                pass
        exit_code = 0
    except (_LayerEscape, tarfile.TarError, EOFError, ValueError, UnicodeError) as exc:
        os.write(error_fd, f"invalid:{exc}".encode(errors="replace"))
    except KeyError as exc:  # tarfile: a hardlink to a member the stream never had
        os.write(error_fd, f"invalid:{exc.args[0] if exc.args else exc}".encode(errors="replace"))
    except OSError as exc:
        # What members do to each other (a file under a file or dangling link,
        # a directory over a file) is the archive's fault; the rest the host's.
        kind = "invalid" if exc.errno in _ARCHIVE_ERRNOS else "error"
        where = f" ({exc.filename})" if exc.filename else ""
        os.write(error_fd, f"{kind}:{exc.strerror}{where}".encode(errors="replace"))
    except BaseException as exc:  # noqa: BLE001 - the child must reach os._exit
        os.write(error_fd, f"error:{type(exc).__name__}: {exc}".encode(errors="replace"))
    finally:
        os._exit(exit_code)


def _extract_all(archive, member_filter) -> None:
    """`extractall(filter=...)` on every Python husk supports.

    Debian 12's python3 (3.11.2) predates tarfile's extraction filters
    (3.11.4), so there each member goes through the filter and is extracted on
    its own, and directories get their owner, mode and mtime last, as
    extractall does (a file written into a directory changes its mtime).
    """
    import tarfile

    if hasattr(tarfile, "data_filter"):
        archive.extractall(".", numeric_owner=True, filter=member_filter)
        return
    directories = []
    for member in archive:
        kept = member_filter(member, ".")
        if kept is None:
            continue
        archive.extract(kept, ".", set_attrs=not kept.isdir(), numeric_owner=True)
        if kept.isdir():
            directories.append(kept)
    for directory in reversed(directories):
        archive.chown(directory, directory.name, True)
        archive.utime(directory, directory.name)
        archive.chmod(directory, directory.name)


def _replaced(member, **changes):
    """A copy of a TarInfo with some fields changed (TarInfo.replace is 3.11.4+)."""
    import copy

    clone = copy.copy(member)
    for name, value in changes.items():
        setattr(clone, name, value)
    return clone


def _inside_name(name: str, what: str, root: str = "layer") -> str:
    """``name`` relative to the layer root, normalised; refuses names that climb out.

    A leading "/" is dropped (tar(1) does the same): "/etc/x" lands at etc/x.
    """
    relative = posixpath.normpath(name.lstrip("/") or ".")
    if relative == ".." or relative.startswith("../"):
        raise _LayerEscape(f"{what} escapes the {root}")
    return relative


class _LayerFilter:
    """husk's tarfile extraction filter, run inside the chroot.

    Keeps each member as it is (modes with setuid/setgid/sticky, numeric owners,
    mtimes, absolute symlinks, devices, fifos), refuses names and hardlink
    targets that climb above the root, and applies OCI whiteouts the way an
    overlayfs lower directory holds them: ``.wh.<name>`` becomes a 0/0 character
    device ``<name>``, ``.wh..wh..opq`` sets ``trusted.overlay.opaque=y`` on its
    directory (in :meth:`finish`, after extraction).  A later member replaces an
    earlier one at the same path (the earlier one is removed first, so a file
    never writes through a symlink or into another hardlink's inode), except
    that directories merge.  ``SCHILY.xattr.*`` pax records are applied too
    (file capabilities), after ownership, since chown clears capabilities; and
    symlinks get their mtimes, which tarfile leaves out.
    """

    def __init__(self, *, refuse_devices: bool = False) -> None:
        self.refuse_devices = refuse_devices
        self.opaque_dirs: list[str] = []
        # set in finish(), keyed by path so that a replaced member's are dropped
        self.xattrs: dict[str, dict[str, bytes]] = {}
        self.symlink_mtimes: dict[str, float] = {}

    #: a layer's `.wh.` entries are whiteouts; a tar copied into a container
    #: (`husk cp`) holds them as plain files
    applies_whiteouts = True
    #: what the error calls the directory a name must stay in
    root_word = "layer"

    def __call__(self, member, dest_path: str):
        name = _inside_name(member.name, f"member '{member.name}'", self.root_word)
        parent, base = posixpath.split(name)
        if self.applies_whiteouts and base.startswith(_WHITEOUT_PREFIX):
            return self._whiteout(member, parent, base)
        if self.refuse_devices and (member.ischr() or member.isblk()):
            kind = "character" if member.ischr() else "block"
            raise _LayerEscape(f"member '{member.name}' is a {kind} device "
                               f"({member.devmajor}:{member.devminor}); device nodes are refused in a pulled layer")
        changes: dict = {"name": name}
        if member.islnk():
            changes["linkname"] = _inside_name(
                member.linkname, f"hardlink '{member.name}' -> '{member.linkname}'", self.root_word
            )
        path = name
        self._make_way(path, member.isdir())
        self.xattrs.pop(path, None)
        self.symlink_mtimes.pop(path, None)
        if member.issym():
            self.symlink_mtimes[path] = member.mtime
        xattrs = {
            key[len("SCHILY.xattr."):]: value.encode("utf-8", "surrogateescape")
            for key, value in member.pax_headers.items()
            if key.startswith("SCHILY.xattr.") and not key.startswith("SCHILY.xattr.trusted.overlay.")
        }
        if xattrs:
            self.xattrs[path] = xattrs
        return _replaced(member, **changes)

    def _whiteout(self, member, parent: str, base: str):
        """What a `.wh.` member becomes: an opaque mark, nothing, or a 0/0 device."""
        import tarfile

        if base == _OPAQUE_MARKER:
            self.opaque_dirs.append(parent or ".")
            return None
        if base.startswith(_AUFS_META_PREFIX):
            return None
        hidden = posixpath.join(parent, base[len(_WHITEOUT_PREFIX):])
        if base == _WHITEOUT_PREFIX:
            raise _LayerEscape(f"member '{member.name}' is a whiteout of nothing")
        if os.path.lexists(hidden):
            return None  # OCI: a whiteout hides lower layers only, not its own layer
        whiteout = _replaced(member, name=hidden, mode=0, uid=0, gid=0, linkname="")
        whiteout.type, whiteout.devmajor, whiteout.devminor, whiteout.size = tarfile.CHRTYPE, 0, 0, 0
        return whiteout

    @staticmethod
    def _make_way(path: str, is_dir: bool) -> None:
        if path == "." or not os.path.lexists(path):
            return
        is_real_dir = os.path.isdir(path) and not os.path.islink(path)
        if is_dir and is_real_dir:
            return
        if is_real_dir:
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def begin(self) -> None:
        """Before the first member (a layer is unpacked where it stays)."""

    def abort(self) -> None:
        """After a failure (a failed layer's directory is removed by the parent)."""

    def finish(self) -> None:
        """Mark opaque directories and set recorded xattrs, once everything is in place."""
        for directory in self.opaque_dirs:
            os.makedirs(directory, exist_ok=True)
            os.setxattr(directory, OPAQUE_XATTR, b"y", follow_symlinks=False)
        for path, xattrs in self.xattrs.items():
            for key, value in xattrs.items():
                os.setxattr(path, key, value, follow_symlinks=False)
        for path, mtime in self.symlink_mtimes.items():
            os.utime(path, (mtime, mtime), follow_symlinks=False)


class _TreeFilter(_LayerFilter):
    """:class:`_LayerFilter` without whiteouts, after a caller's own check, and
    all or nothing: members land in a staging directory inside the destination
    (same filesystem), and only a complete, conflict-free archive is moved into
    place.  A refused archive leaves nothing of itself.  So that nothing is
    written outside the staging directory before the end, a member below a
    symlink of the same archive is refused, and a hardlink may point only at
    an earlier member."""

    applies_whiteouts = False
    root_word = "destination directory"

    def __init__(self, check) -> None:
        super().__init__()
        self.check = check
        self.staging = ""
        self.explicit_dirs: set[str] = set()

    def begin(self) -> None:
        self.staging = f".husk-cp-{os.urandom(8).hex()}"
        os.mkdir(self.staging, 0o700)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def __call__(self, member, dest_path: str):
        if self.check is not None:
            member = self.check(member)  # sees the destination as it is now
        name = _inside_name(member.name, f"member '{member.name}'", self.root_word)
        parts = name.split("/") if name != "." else []
        for depth in range(1, len(parts)):
            if os.path.islink(posixpath.join(self.staging, *parts[:depth])):
                raise ValueError(f"member '{member.name}' is below the archive's own symlink "
                                 f"'{'/'.join(parts[:depth])}'")
        changes = {"name": posixpath.join(self.staging, name)}
        if member.islnk():
            target = _inside_name(member.linkname, f"hardlink '{member.name}' -> '{member.linkname}'",
                                  self.root_word)
            if not os.path.lexists(posixpath.join(self.staging, target)):
                raise ValueError(f"hardlink '{member.name}' -> '{member.linkname}': no such member before it")
            changes["linkname"] = posixpath.join(self.staging, target)
        if member.isdir():
            self.explicit_dirs.add(name)
        return super().__call__(_replaced(member, **changes), dest_path)

    def finish(self) -> None:
        super().finish()
        self._check_merge(self.staging, ".")
        self._merge(self.staging, ".")
        os.rmdir(self.staging)

    def _check_merge(self, staged: str, target: str) -> None:
        """Refuse, before anything moves, a directory the archive only implies
        (`a/f` without `a/`) where the destination has a non-directory."""
        for entry in os.listdir(staged):
            source, dest = os.path.join(staged, entry), os.path.join(target, entry)
            if os.path.isdir(source) and not os.path.islink(source) and os.path.lexists(dest):
                if self._merges(source, dest):
                    self._check_merge(source, dest)
                elif self._relative(source) not in self.explicit_dirs:
                    raise ValueError(f"cannot make directory '{self._relative(source)}': "
                                     "the destination has a non-directory there")

    def _merges(self, source: str, dest: str) -> bool:
        """A staged directory merges into a destination directory (through a
        symlink only when the archive did not name the directory itself, as
        unpacking in place would)."""
        if self._relative(source) in self.explicit_dirs:
            return os.path.isdir(dest) and not os.path.islink(dest)
        return os.path.isdir(dest)

    def _merge(self, staged: str, target: str) -> None:
        """Move the staged tree into place: a directory merges into one there,
        anything else replaces what is there."""
        for entry in os.listdir(staged):
            source, dest = os.path.join(staged, entry), os.path.join(target, entry)
            if os.path.isdir(source) and not os.path.islink(source) and self._merges(source, dest):
                attributes = os.lstat(source)
                self._merge(source, dest)
                if self._relative(source) in self.explicit_dirs:
                    _set_attributes(dest, attributes)
                os.rmdir(source)
                continue
            self._make_way(dest, False)
            os.rename(source, dest)
        if staged == self.staging and "." in self.explicit_dirs:
            _set_attributes(".", os.lstat(staged))

    def _relative(self, staged_path: str) -> str:
        return os.path.relpath(staged_path, self.staging)


def _set_attributes(directory: str, attributes: os.stat_result) -> None:
    """Give an existing directory a staged one's owner, mode and times, as
    unpacking a directory member over it in place would."""
    os.chown(directory, attributes.st_uid, attributes.st_gid)
    os.chmod(directory, stat.S_IMODE(attributes.st_mode))
    os.utime(directory, ns=(attributes.st_atime_ns, attributes.st_mtime_ns))
