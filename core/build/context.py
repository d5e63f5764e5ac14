"""The build context: a directory, or a tar (stdin's `-`, a tarball, the API's
request body) unpacked into a private temporary directory.

Everything COPY and ADD read is resolved inside the context's root as a
process chrooted there would see it (:mod:`husk.storage.rootpath`): a symlink
to /etc/shadow or a `../..` path ends inside the context, never outside.  A
tar context is unpacked as `husk cp` unpacks (chrooted, refusing `..` and
absolute names), and refused if it holds device nodes, fifos or sockets."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import BinaryIO

from ..define import InvalidArgument
from .ignore import Pattern, read_patterns

DEFAULT_FILES = ("Containerfile", "Dockerfile")


@dataclasses.dataclass
class Context:
    root: str
    patterns: list[Pattern]
    #: a temporary directory of ours (a tar context), removed by close()
    temporary: str = ""

    def close(self) -> None:
        if self.temporary:
            shutil.rmtree(self.temporary, ignore_errors=True)

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _refuse_special(member):
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise ValueError(f"{member.name}: device nodes, fifos and sockets are not allowed in a build context")
    return member


def from_tar(stream: BinaryIO, parent: str) -> str:
    """Unpack a context tar (plain or compressed) into a new private directory
    under `parent`, as `husk cp` unpacks (:func:`husk.storage.layers.extract_tree`:
    chrooted, nothing escapes)."""
    from ..storage.layers import extract_tree

    os.makedirs(parent, mode=0o700, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="context-", dir=parent)
    root = os.path.join(directory, "root")
    os.mkdir(root, 0o755)
    try:
        extract_tree(stream, root, check=_refuse_special, what="build context")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return directory


def open_context(location: str, stdin: BinaryIO | None, scratch_dir: str, containerfile: str = "") -> Context:
    """The context at `location`: a directory, `-` (a tar on `stdin`) or a tar file."""
    temporary = ""
    if location == "-" or os.path.isfile(location):
        if location == "-":
            temporary = from_tar(stdin, scratch_dir)
        else:
            with open(location, "rb") as stream:
                temporary = from_tar(stream, scratch_dir)
        root = os.path.join(temporary, "root")
    elif os.path.isdir(location):
        root = os.path.abspath(location)
    else:
        raise InvalidArgument(f"no context directory and no Containerfile was specified: "
                              f"stat {location}: no such file or directory")
    return Context(root, read_patterns(root, os.path.basename(containerfile)), temporary)


def read_containerfile(context: Context, name: str = "", outside_ok: bool = True,
                       fallback: bool = False) -> tuple[str, str]:
    """(text, the name to report) of the Containerfile: `name` as a path
    (from the working directory; `outside_ok` is the CLI's --file, which may
    lie outside the context) or inside the context, else the context's
    Containerfile or Dockerfile (also when `name` is missing and `fallback`:
    libpod's, whose clients name a file they do not send).  Inside the context
    it is read without leaving it."""
    from ..storage.rootpath import read_text

    if name == "-":
        raise InvalidArgument("a Containerfile on stdin is not supported with a context on stdin")
    if name and outside_ok and not context.temporary and os.path.isfile(name):
        with open(name, encoding="utf-8", errors="replace") as file:
            return file.read(), name
    for candidate in [*([name] if name else []), *(DEFAULT_FILES if fallback or not name else ())]:
        text = read_text(context.root, candidate)
        if text is not None:
            return text, candidate
    wanted = name or " or ".join(DEFAULT_FILES)
    raise InvalidArgument(f"no Containerfile or Dockerfile specified or found in context: {wanted}: "
                          "no such file or directory")
