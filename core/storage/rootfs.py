"""A container's root filesystem: an overlay of its image's layers, or a copy of them.

The overlay driver mounts the layer directories (read-only, lower) under the
container's own ``upper`` directory at ``merged``.  mount(2) is called through
ctypes rather than by running /bin/mount: measured here (kernel 6.18, ext4),
a mount plus unmount takes about 0.3 ms through the syscall against about
3 ms for /bin/mount plus /bin/umount, and ctypes costs about 1 ms to import,
once.  Where overlayfs is unavailable (no overlay module, or an upper file
system it cannot sit on) the ``vfs`` driver copies the layers into ``merged``
once, applying their whiteouts, and unmounting is then a no-op.

A *mount program* (podman's storage.conf ``mount_program``, husk.conf's
``[storage] mount_program``), fuse-overlayfs in practice, mounts the same
overlay from user space instead of the kernel; a caller may also name a
program for when the kernel cannot do overlay (rootless husk: fuse-overlayfs
on kernels before 5.11, as podman), tried before the vfs copy.  The program's daemon
lives until the unmount, which is the same umount2 as for the kernel's.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat

from ..define import HuskError, inheritable_fds

OVERLAY = "overlay"
VFS = "vfs"
DRIVERS = (OVERLAY, VFS)

MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8
#: mount(2) errors meaning "overlay cannot work here" rather than "you asked wrongly"
_OVERLAY_UNAVAILABLE = (errno.ENODEV, errno.EINVAL)
#: characters that overlayfs's option parser would take as separators
_OPTION_SEPARATORS = (",", ":", "\\")
_OPAQUE_XATTR = "trusted.overlay.opaque"
_OVERLAY_XATTR_PREFIX = "trusted.overlay."


def mount_overlay(lower_dirs: list[str], container_dir: str, driver: str = OVERLAY, mount_program: str = "",
                  fallback_program: str = "") -> str:
    """Make the container's root filesystem at ``container_dir/merged``; return that path.

    :param lower_dirs: the layers' ``diff`` directories, top-most first (overlay's order)
    :param container_dir: holds ``upper``, ``work`` and ``merged`` (created if missing)
    :param driver: ``"overlay"`` mounts overlayfs, falling back to ``"vfs"`` when the
        kernel or the upper file system cannot do overlay; ``"vfs"`` copies the layers.
    :param mount_program: a program that mounts the overlay instead of the kernel
        (fuse-overlayfs's command line); "" for the kernel's.
    :param fallback_program: the same, used only when the kernel cannot do overlay here
        (before the vfs copy).

    Calling it again on a mounted (or already copied) rootfs returns the same path.
    The overlay options must fit in one page (about 45 layers with absolute paths
    under /var/lib/husk); beyond that the layers are named relative to their common
    parent, which allows about 55; more is refused.
    """
    if driver not in DRIVERS:
        raise HuskError(f"unknown storage driver {driver!r}: expected one of {', '.join(DRIVERS)}")
    paths = {name: os.path.join(container_dir, name) for name in ("upper", "work", "merged")}
    _make_directories(container_dir, paths, lower_dirs)
    merged = paths["merged"]
    if is_mounted(merged) or os.listdir(merged):  # mounted, or a vfs copy already made
        return merged
    _wait_for_sync_aside(container_dir)
    if driver == OVERLAY and mount_program:
        _run_mount_program(mount_program, lower_dirs, paths["upper"], paths["work"], merged)
        return merged
    if driver == OVERLAY:
        try:
            _mount_overlayfs(lower_dirs, paths["upper"], paths["work"], merged)
            return merged
        except OSError as exc:
            if exc.errno not in _OVERLAY_UNAVAILABLE:
                raise HuskError(f"cannot mount the rootfs at {merged}: {exc.strerror}") from None
        if fallback_program:
            _run_mount_program(fallback_program, lower_dirs, paths["upper"], paths["work"], merged)
            return merged
    _copy_layers(lower_dirs, merged)
    return merged


def _run_mount_program(program: str, lower_dirs: list[str], upper: str, work: str, merged: str) -> None:
    """Mount the overlay with ``program`` (fuse-overlayfs's options: ``-o lowerdir=...,upperdir=...,
    workdir=...``); it stays behind as the file system's daemon until the unmount."""
    import subprocess

    lower_dirs = [os.path.abspath(path) for path in lower_dirs]
    upper, work = os.path.abspath(upper), os.path.abspath(work)
    _check_separators((*lower_dirs, upper, work))
    options = _overlay_options(lower_dirs, upper, work)
    try:
        result = subprocess.run([program, "-o", options, merged], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
    except OSError as exc:
        raise HuskError(f"cannot mount the rootfs at {merged} with {program}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise HuskError(f"cannot mount the rootfs at {merged}: {program} did not finish in 60 s") from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        if not os.access("/dev/fuse", os.R_OK | os.W_OK):  # a rootless user, where only root may open it
            reason += " (/dev/fuse cannot be opened here, and a FUSE mount program needs it)"
        raise HuskError(f"cannot mount the rootfs at {merged} with {program}: {reason}")


def _make_directories(container_dir: str, paths: dict[str, str], lower_dirs: list[str]) -> None:
    """The container's directory, private (0700: the rootfs may hold setuid files
    its root made, see husk.state.paths), and in it `work` and `merged` 0700 and `upper`
    with the mode of the top layer's root, because overlayfs shows the upper
    directory's mode as the container's `/` (a container running as a user
    other than root must be able to traverse it), as podman does."""
    from ..state.paths import make_private_dirs

    make_private_dirs(container_dir)
    upper_mode = stat.S_IMODE(os.stat(lower_dirs[0]).st_mode) if lower_dirs else 0o755
    for name, mode in (("upper", upper_mode), ("work", 0o700), ("merged", 0o700)):
        try:
            os.mkdir(paths[name], mode)
        except FileExistsError:
            continue
        os.chmod(paths[name], mode)  # the umask took bits off


def unmount(path: str) -> None:
    """Unmount ``path``; detach it lazily if it is busy.  Not mounted (or a vfs copy): nothing."""
    try:
        _umount2(path, UMOUNT_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOENT):
            return
        if exc.errno != errno.EBUSY:
            raise HuskError(f"cannot unmount {path}: {exc.strerror}") from None
        try:
            _umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH)
        except OSError as detach_exc:
            raise HuskError(f"cannot unmount {path}: {detach_exc.strerror}") from None


def unmount_sync_aside(path: str) -> None:
    """Unmount ``path`` at once, leaving the filesystem's end to a detached
    process: the last unmount of an overlay syncs its upper file system
    (overlayfs's sync_fs), which after a checkpoint is CRIU's 100 MB of
    images, 30-70 ms of the command measured.  An open descriptor of the
    mount is handed to a shell in a session of its own, the mount is detached
    from the tree (MNT_DETACH: the path is free at once), and the
    descriptor's last close, when the shell reads the end of its input at our
    close of the pipe, ends the filesystem in that process: the sync still
    runs, beside the command's end rather than in it.  Where the process
    cannot be started: :func:`unmount`.

    The process also holds a lock on the path's directory (the container's:
    flock, taken here and inherited) until its close of the descriptor has
    returned, the sync done: the next mount of the overlay waits for it
    (:func:`_wait_for_sync_aside`), since an overlay mounted on an upper
    directory whose previous superblock still lives is "in use" (a warning
    of undefined behaviour in the kernel's log, EBUSY with overlay's index=on;
    seen on an immediate restore)."""
    import fcntl

    try:
        held = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        unmount(path)
        return
    lock = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _detach_aside(path, held, lock)
    finally:
        os.close(lock)  # the detached process's copy keeps it locked


def _detach_aside(path: str, held: int, lock: int) -> None:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        # setsid -f: the shell is its child, orphaned at once and so never a zombie of ours (nor of the service);
        # it keeps none of our other descriptors (LMDB's data file, a caller's pipe) while the sync runs
        closes = [(os.POSIX_SPAWN_CLOSE, fd) for fd in inheritable_fds()]
        # the shell reads to the end of its input, closes the mount (the sync runs in that close), then exits,
        # which releases the lock (descriptor 4)
        setsid = os.posix_spawn("/usr/bin/setsid", ["setsid", "-f", "/bin/sh", "-c", "read x; exec 3>&-"],
                                {"PATH": os.defpath}, file_actions=[
            *closes, (os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, 1, 2), (os.POSIX_SPAWN_DUP2, held, 3), (os.POSIX_SPAWN_DUP2, lock, 4)])
        os.waitpid(setsid, 0)
    except OSError:
        os.close(held)
        os.close(write_end)
        unmount(path)
        return
    finally:
        os.close(read_end)
    try:
        _umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise HuskError(f"cannot unmount {path}: {exc.strerror}") from None
    finally:
        os.close(held)
        os.close(write_end)  # the shell's read ends: its close of the descriptor is the mount's last


def _wait_for_sync_aside(container_dir: str) -> None:
    """Wait for the end of the overlay's previous superblock when a checkpoint
    left it to a detached process (:func:`unmount_sync_aside`, which holds the
    lock until then); at once otherwise."""
    import fcntl

    lock = os.open(container_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
    finally:
        os.close(lock)




def is_mounted(path: str) -> bool:
    """Whether something is mounted at ``path`` (read from /proc/self/mountinfo)."""
    wanted = os.fsencode(os.path.realpath(path))
    with open("/proc/self/mountinfo", "rb") as mountinfo:
        for line in mountinfo:
            mount_point = line.split(b" ", 5)[4]
            if _unescape_mountinfo(mount_point) == wanted:
                return True
    return False


def _unescape_mountinfo(field: bytes) -> bytes:
    # the kernel writes space, tab, newline and backslash as \ooo
    return re.sub(rb"\\([0-7]{3})", lambda match: bytes([int(match.group(1), 8)]), field)


# -- overlayfs ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, path: str) -> None:
    if result != 0:
        import ctypes

        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)


def _mount(source: str, target: str, fstype: str, options: str) -> None:
    result = _libc().mount(source.encode(), os.fsencode(target), fstype.encode(), 0, os.fsencode(options))
    _check(result, target)


def _umount2(target: str, flags: int) -> None:
    _check(_libc().umount2(os.fsencode(target), flags), target)


def bind_rootfs(directory: str, container_dir: str) -> str:
    """`--rootfs DIR`: the directory itself at ``container_dir/merged`` (a
    recursive bind: the container writes into it, as podman's does)."""
    merged = os.path.join(container_dir, "merged")
    os.makedirs(merged, mode=0o700, exist_ok=True)
    if not is_mounted(merged):
        _MS_BIND, _MS_REC = 4096, 16384
        result = _libc().mount(os.fsencode(directory), os.fsencode(merged), None, _MS_BIND | _MS_REC, None)
        _check(result, merged)
    return merged


def mount_read_only(lower_dirs: list[str], directory: str) -> str:
    """The layers (top-most first) as a read-only overlay at ``directory/merged``
    (no upper directory; below a single layer an empty one, as overlayfs wants
    two lowers then); the same path when it is mounted already.  Needs overlayfs."""
    from ..state.paths import make_private_dirs

    make_private_dirs(directory)
    merged, empty = os.path.join(directory, "merged"), os.path.join(directory, "empty")
    for path in (merged, empty):
        os.makedirs(path, mode=0o700, exist_ok=True)
    if not is_mounted(merged):
        try:
            _mount_overlayfs(lower_dirs + [empty] * (len(lower_dirs) == 1), "", "", merged)
        except OSError as exc:
            raise HuskError(f"cannot mount the image at {merged}: {exc.strerror}") from None
    return merged


def _overlay_options(lower: list[str], upper: str, work: str) -> str:
    """overlayfs's options; without `upper` (and `work`) a read-only overlay."""
    return f"lowerdir={':'.join(lower)}" + (f",upperdir={upper},workdir={work}" if upper else "")


def _check_separators(paths) -> None:
    for path in paths:
        if any(char in path for char in _OPTION_SEPARATORS):
            raise HuskError(f"cannot use {path!r} in an overlay: it contains one of {' '.join(_OPTION_SEPARATORS)}")


def _mount_overlayfs(lower_dirs: list[str], upper: str, work: str, merged: str) -> None:
    if not lower_dirs:
        raise HuskError("cannot mount an overlay without layers")
    lower_dirs = [os.path.abspath(path) for path in lower_dirs]
    upper, work = (os.path.abspath(upper), os.path.abspath(work)) if upper else ("", "")
    _check_separators((*lower_dirs, upper, work))
    page_size = os.sysconf("SC_PAGESIZE")
    options = _overlay_options(lower_dirs, upper, work)
    if len(os.fsencode(options)) < page_size:
        _mount(OVERLAY, merged, OVERLAY, options)
        return
    layers_root = os.path.commonpath(lower_dirs)
    relative = [os.path.relpath(path, layers_root) for path in lower_dirs]
    options = _overlay_options(relative, upper, work)
    if len(os.fsencode(options)) >= page_size:
        raise HuskError(f"too many layers ({len(lower_dirs)}) for one overlay mount")
    _mount_from(layers_root, merged, options)


def _mount_from(directory: str, merged: str, options: str) -> None:
    """Mount in a child whose working directory is ``directory``, so relative
    lowerdirs resolve there; chdir in this process would move every thread."""
    _libc()  # load before forking
    pid = os.fork()
    if pid == 0:
        code = errno.EIO
        try:
            os.chdir(directory)
            _mount(OVERLAY, merged, OVERLAY, options)
            code = 0
        except OSError as exc:
            code = exc.errno or errno.EIO
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise OSError(code if code > 0 else errno.EIO, os.strerror(code if code > 0 else errno.EIO), merged)


# -- the vfs driver -----------------------------------------------------------------------


def _copy_layers(lower_dirs: list[str], merged: str) -> None:
    """Copy the layers, bottom-most first, into ``merged``, in a child chrooted there
    so that no symlink in the tree being built can lead a write outside it.

    Whiteouts (0/0 character devices) delete what lower layers put at their path;
    an opaque directory empties what lower layers put in it.  Owners, modes,
    mtimes, xattrs (but overlay's own), devices, fifos and hardlinks are kept.
    On failure ``merged`` is left empty.
    """
    layer_fds = [os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in reversed(lower_dirs)]
    error_read, error_write = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(error_read)
            _child_copy(layer_fds, merged, error_write)
        os.close(error_write)
        with os.fdopen(error_read, "rb") as error_pipe:
            message = error_pipe.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
    finally:
        for fd in layer_fds:
            os.close(fd)
    if message or os.waitstatus_to_exitcode(status) != 0:
        _empty_directory(merged)
        raise HuskError(f"cannot copy the layers into {merged}: {message or 'the copying process died'}")


def _child_copy(layer_fds: list[int], merged: str, error_fd: int) -> None:
    exit_code = 1
    try:
        os.chroot(merged)
        os.chdir("/")
        hardlinks: dict[tuple[int, int], str] = {}
        directories: dict[str, tuple[os.stat_result, dict[str, bytes]]] = {}
        for layer_fd in layer_fds:
            _copy_layer(layer_fd, hardlinks, directories)
        for path, (st, xattrs) in directories.items():
            _set_attributes(path, st, xattrs)
        exit_code = 0
    except BaseException as exc:  # noqa: BLE001 - the child must reach os._exit
        detail = f"{exc.strerror} ({exc.filename})" if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        os.write(error_fd, detail.encode(errors="replace"))
    finally:
        os._exit(exit_code)


def _copy_layer(layer_fd: int, hardlinks: dict, directories: dict) -> None:
    if _is_opaque(layer_fd):
        _empty_directory(".")
    directories["."] = (os.fstat(layer_fd), _xattrs(layer_fd))
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=layer_fd, follow_symlinks=False):
        dest_dir = os.path.normpath(dirpath)  # relative to the chroot's root, the working directory
        for name in dirnames + filenames:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            dest = os.path.join(dest_dir, name)
            if stat.S_ISDIR(st.st_mode):
                _copy_directory(name, dir_fd, dest, st, directories)
            elif stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # overlay's whiteout
                _remove(dest)
            else:
                _remove(dest)
                _copy_non_directory(name, dir_fd, dest, st, hardlinks)


def _copy_directory(name: str, dir_fd: int, dest: str, st: os.stat_result, directories: dict) -> None:
    if not (os.path.isdir(dest) and not os.path.islink(dest)):
        _remove(dest)
        os.mkdir(dest, 0o700)
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        if _is_opaque(fd):
            _empty_directory(dest)
        directories[dest] = (st, _xattrs(fd))
    finally:
        os.close(fd)


def _copy_non_directory(name: str, dir_fd: int, dest: str, st: os.stat_result, hardlinks: dict) -> None:
    kind = stat.S_IFMT(st.st_mode)
    xattrs: dict[str, bytes] = {}
    if kind == stat.S_IFREG:
        inode = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and inode in hardlinks and os.path.lexists(hardlinks[inode]):
            os.link(hardlinks[inode], dest, follow_symlinks=False)
            return
        hardlinks[inode] = dest
        source_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
        try:
            dest_fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                offset = 0
                while offset < st.st_size and (sent := os.sendfile(dest_fd, source_fd, offset, st.st_size - offset)):
                    offset += sent
            finally:
                os.close(dest_fd)
            xattrs = _xattrs(source_fd)
        finally:
            os.close(source_fd)
    elif kind == stat.S_IFLNK:
        os.symlink(os.readlink(name, dir_fd=dir_fd), dest)
    elif kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO):
        os.mknod(dest, st.st_mode, st.st_rdev)
    else:  # sockets are not content
        return
    _set_attributes(dest, st, xattrs)


def _set_attributes(path: str, st: os.stat_result, xattrs: dict[str, bytes]) -> None:
    # chown first: it clears setuid bits and file capabilities set before it
    os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
    for key, value in xattrs.items():
        os.setxattr(path, key, value, follow_symlinks=False)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _xattrs(fd: int) -> dict[str, bytes]:
    return {key: os.getxattr(fd, key) for key in os.listxattr(fd) if not key.startswith(_OVERLAY_XATTR_PREFIX)}


def _is_opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, _OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil  # not at the top: shutil imports bz2 and lzma, ~1.5 ms of every mount and unmount

        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _empty_directory(path: str) -> None:
    for name in os.listdir(path):
        _remove(os.path.join(path, name))
