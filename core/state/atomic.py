"""Replacing a file whole: the one way husk writes a file that something may
read while it is written or after a crash (caches, auth and connection files,
markers, pid files, pushed layouts).

A reader sees the old file or the new one, never half of one: the text goes
to a temporary file in the same directory (so the rename stays within one
file system) and ``os.replace`` puts it in place.  Imports only ``os`` and
``_thread``: hot CLI paths call it.
"""

from __future__ import annotations

import os
from _thread import get_ident
from typing import IO, Callable, Union

#: what to write: bytes, text (UTF-8), or a function given the open binary file
Content = Union[bytes, str, Callable[[IO[bytes]], object]]


def replace_file(path: str, content: Content, *, mode: int = 0o600, durable: bool = False,
                 make_parent: bool = False) -> None:
    """Replace `path` with `content` atomically.

    - `mode`: the new file's permission bits as ``os.open`` takes them, so
      the umask applies (0o600, the default, is private whatever the umask;
      pass 0o666 for a file the user asked for, as ``open`` would make it).
    - `durable`: fsync the file before the rename and the directory after,
      so that a power loss leaves the old file or the whole new one.  Only
      where losing the write matters (auth, connections, the user namespace
      marker); caches and run-root files (tmpfs) skip the cost.
    - `make_parent`: create a missing parent directory (mode 0700, private
      as husk's directories are) instead of failing.

    The temporary file is ``.NAME.PID.THREAD.tmp`` beside `path`, so
    processes and threads writing the same file never share one; it is
    created exclusively (never through a link someone left) and removed on
    any failure, Ctrl-C included.  Errors are raised: on a read-only home or
    a full disk the OSError reaches the caller, and a cache's caller catches
    it and carries on without its cache.
    """
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.{get_ident()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC  # O_EXCL: no link is followed
    try:
        try:
            fd = os.open(temporary, flags, mode)
        except FileExistsError:  # left by a crashed writer whose pid and thread id this one has
            os.unlink(temporary)
            fd = os.open(temporary, flags, mode)
        except FileNotFoundError:
            if not make_parent:
                raise
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(temporary, flags, mode)
    except OSError as exc:  # a missing or read-only directory: the error names the caller's file
        if exc.filename == temporary:
            exc.filename = path
        raise
    try:
        with open(fd, "wb") as handle:
            _write(handle, content)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    if durable:
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:  # a file system that cannot sync a directory: the file is in place all the same
            pass


def write_output(path: str, content: Content, *, mode: int = 0o666) -> None:
    """Write a file the user named (`save -o`, `push IMAGE docker-archive:PATH`)
    as podman writes one: the kernel opens `path`, following a symbolic link
    (its checks, fs.protected_symlinks, apply as to podman's open), and
    what it finds decides:

    - not a regular file (a device, a FIFO, a terminal): written straight
      in, where replacing would put a regular file in the node's place;
    - an empty regular file named by /dev or /proc (`/dev/stdout` redirected
      to a file): written straight in (replacing it would leave the
      redirect's file empty);
    - an empty regular file reached through a link: replaced whole, the
      link kept; a dangling link's target is made, as podman makes it;
    - a regular file that is not empty, reached either way: refused, as
      podman refuses it: a link someone planted at the path never makes
      husk replace the file it names (`/etc/shadow`), and `>>` is never
      overwritten from its start;
    - anything else (a regular file named directly, or nothing): replaced
      whole (replace_file), husk's difference from podman, which refuses a
      file that is not empty.

    A failed replacement leaves the old file, or no file where there was
    none; what is written straight in keeps what was written, as podman's."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)  # as podman: no O_TRUNC (a pipe, a tty, a fresh redirect)
        made = False
    except FileNotFoundError:
        if not os.path.islink(path):
            replace_file(path, content, mode=mode)
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, mode)  # a dangling link's target
        made = True
    with open(fd, "wb") as handle:
        status = os.fstat(fd)
        if (status.st_mode & 0o170000) != 0o100000:
            _write(handle, content)
            return
        special, linked = os.path.abspath(path).startswith(("/dev/", "/proc/")), os.path.islink(path)
        if (special or linked) and status.st_size:
            from errno import EEXIST

            raise OSError(EEXIST, "refusing to overwrite a file that is not empty through a symbolic link "
                                  "or a /dev or /proc name", path)
        if special:
            _write(handle, content)
            return
        target = os.readlink(f"/proc/self/fd/{fd}") if linked else path  # the file the kernel opened
    try:
        replace_file(target, content, mode=mode)
    except BaseException:
        if made:
            try:
                os.unlink(target)
            except OSError:
                pass
        raise


def _write(handle: IO[bytes], content: Content) -> None:
    """`content` into the open file, the one reading of Content for both writers."""
    if callable(content):
        content(handle)
    else:
        handle.write(content.encode() if isinstance(content, str) else content)
