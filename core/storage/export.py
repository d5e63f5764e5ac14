"""A container's root filesystem as a tar stream (`husk export`).

GNU tar writes the archive.  Measured on this host on a 200 MB tree (40 files
of 4 MB and 2000 of 20 kB, in the page cache): `tar` took 0.18-0.27 s, Python's
tarfile in stream mode ("w|") 0.70-0.74 s; and tar writes straight to the
target's file descriptor, so no byte of the archive passes through Python and
nothing is held in memory.  The archive keeps numeric owners (the container's
ids mean nothing on the host), devices, symlinks, hardlinks and extended
attributes (file capabilities), in POSIX (pax) format without atime/ctime
records; member names are relative (`bin/sh`), as `husk import` and podman's
export write them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import BinaryIO

from ..define import HuskError

TAR_OPTIONS = ("--create", "--file=-", "--numeric-owner", "--format=posix",
               "--pax-option=delete=atime,delete=ctime", "--xattrs", "--xattrs-include=*",
               "--sort=name", "--null", "--verbatim-files-from")
#: tar's "some files changed while being read": normal for a running container
TAR_FILES_CHANGED = 1
_COPY_CHUNK = 1 << 20


def write_tar(rootfs: str, target: "str | os.PathLike | BinaryIO") -> None:
    """Stream `rootfs` as a tar archive to `target`: a path (created, or
    truncated; removed again when the export fails) or a binary file object
    (written through its file descriptor when it has one)."""
    if isinstance(target, (str, os.PathLike)):
        try:
            with open(target, "wb") as handle:
                _run_tar(rootfs, handle)
        except BaseException:
            try:
                os.unlink(target)
            except OSError:
                pass
            raise
        return
    _run_tar(rootfs, target)


def _run_tar(rootfs: str, out: BinaryIO) -> None:
    binary = shutil.which("tar")
    if binary is None:
        raise HuskError("exporting needs GNU tar, which is not installed")
    try:
        out_fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        out_fd = None
    else:
        out.flush()
    with tempfile.TemporaryFile() as names, tempfile.TemporaryFile() as errors:
        names.write(b"".join(name.encode("utf-8", "surrogateescape") + b"\0"
                             for name in sorted(os.listdir(rootfs))))
        names.seek(0)
        argv = [binary, *TAR_OPTIONS, "--directory", rootfs, "--files-from=-"]
        proc = subprocess.Popen(argv, stdin=names, stdout=subprocess.PIPE if out_fd is None else out_fd,
                                stderr=errors)
        try:
            if out_fd is None:
                with proc.stdout:
                    shutil.copyfileobj(proc.stdout, out, _COPY_CHUNK)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if code not in (0, TAR_FILES_CHANGED):
            errors.seek(0)
            lines = [line for line in errors.read().decode(errors="replace").splitlines() if line.strip()]
            detail = lines[-1].removeprefix(f"{binary}: ").removeprefix("tar: ") if lines else f"exit {code}"
            raise HuskError(f"exporting the rootfs of {rootfs}: {detail}")
