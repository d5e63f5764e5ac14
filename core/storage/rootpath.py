"""Paths inside a container's rootfs, resolved without ever leaving it.

An image controls its own files: /etc/passwd may be a symlink to /../../etc/shadow
of the host, a directory may link to `/`.  Every lookup here walks the path one
component at a time with `O_NOFOLLOW` descriptors relative to the rootfs, and
follows a symlink by reading it and resolving its target *inside* the rootfs (an
absolute target restarts at the rootfs, `..` stops at it), the way a process
chrooted into the rootfs would see the path.  No host path is ever built by
joining strings, so a link swapped in during the walk cannot point outside.
"""

from __future__ import annotations

import errno
import os
import stat

#: as the kernel's own limit for one path lookup
MAX_SYMLINKS = 40

_DIR_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def _walk(rootfs: str, path: str, *, make_dirs: bool = False, mode: int = 0o755) -> int:
    """An O_PATH descriptor of `path` resolved inside `rootfs`; the caller closes it.

    :param make_dirs: create missing components as directories (like `mkdir -p`).
    :raises OSError: ENOENT for a missing component, ENOTDIR, ELOOP.
    """
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    # descriptors from the rootfs down to the current directory; `..` pops one
    stack = [root_fd]
    pending = _components(path)
    pending.reverse()  # a stack: next component last
    links = 0
    try:
        while pending:
            name = pending.pop()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=stack[-1])
            except FileNotFoundError:
                if not make_dirs:
                    raise
                try:
                    os.mkdir(name, mode, dir_fd=stack[-1])
                except FileExistsError:  # raced with another creator: fine
                    pass
                fd = os.open(name, _DIR_FLAGS, dir_fd=stack[-1])
            if not stat.S_ISLNK(os.fstat(fd).st_mode):
                stack.append(fd)
                continue
            os.close(fd)
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(name, dir_fd=stack[-1])
            if target.startswith("/"):
                while len(stack) > 1:
                    os.close(stack.pop())
            pending.extend(reversed(_components(target)))
        return os.dup(stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def open_path(rootfs: str, path: str) -> int:
    """An O_PATH descriptor of `path` resolved inside `rootfs` (every symlink
    followed, within it); the caller closes it.

    :raises OSError: ENOENT for a missing component, ENOTDIR, ELOOP.
    """
    return _walk(rootfs, path)


def read_text(rootfs: str, path: str) -> str | None:
    """The content of the file at `path` inside `rootfs`, or None when there is none.

    Anything but a regular file (a directory, a fifo an image planted to hang
    us, a device) counts as none.
    """
    try:
        fd = _walk(rootfs, path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        # reopening through /proc reads exactly the inode the walk ended on
        with open(f"/proc/self/fd/{fd}", encoding="utf-8", errors="replace") as file:
            return file.read()
    finally:
        os.close(fd)


def make_dirs(rootfs: str, path: str, mode: int = 0o755) -> None:
    """`mkdir -p path` inside `rootfs`, following links only within it.

    :raises OSError: ENOTDIR when a component exists and is not a directory.
    """
    fd = _walk(rootfs, path, make_dirs=True, mode=mode)
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    finally:
        os.close(fd)
