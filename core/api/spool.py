"""Archives on their way through the service, kept on disk under the storage
root rather than in memory (an image or a checkpoint can be as large as a
container's memory; /tmp is often a small tmpfs).

`spool_file` is an unnamed temporary file: nothing is left behind even when
the service is killed.  `spool_path` is for engine calls that take a path (a
checkpoint's target, a restore's source); it is removed afterwards, whatever
happens short of a kill.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import TYPE_CHECKING, BinaryIO, Iterator

from aiohttp import web

from . import blocking
from .connections import read_body
from .keys import BODY_TIMEOUT

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

_CHUNK = 1 << 20


def _directory(runtime: "Runtime") -> str:
    root = runtime.paths.root
    os.makedirs(root, mode=0o700, exist_ok=True)
    return root


def spool_file(runtime: "Runtime") -> BinaryIO:
    return tempfile.TemporaryFile(dir=_directory(runtime))


@contextlib.contextmanager
def spool_path(runtime: "Runtime", prefix: str) -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix=prefix, dir=_directory(runtime))
    os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def receive(request: web.Request, spool: BinaryIO) -> None:
    """The request body (chunked or not) into `spool`, which is rewound.  A
    client that stalls is an error once it has sent nothing for the service's
    idle timeout (see husk.api.connections.read_body)."""
    timeout = request.app[BODY_TIMEOUT]
    while chunk := await read_body(request, _CHUNK, timeout):
        await blocking.run(spool.write, chunk)
    await blocking.run(spool.seek, 0)


async def send(request: web.Request, spool: BinaryIO, headers: dict[str, str] | None = None) -> web.StreamResponse:
    """`spool` from where it stands to its end, as a streamed tar answer."""
    response = web.StreamResponse(headers={"Content-Type": "application/x-tar", **(headers or {})})
    await response.prepare(request)
    while chunk := await blocking.run(spool.read, _CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response
