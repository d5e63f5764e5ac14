"""Errors as the Docker API reports them: a status and a JSON body `{"message": ...}`.

The status comes from the error class itself (define's `http_status`), so this
module keeps no table of its own.  Whatever a handler raises -- a HuskError,
a malformed body, a bug -- becomes one JSON answer; the service never dies of it.
"""

from __future__ import annotations

import errno
import json
import logging

from aiohttp import web

from ..define import CommandCannotInvoke, CommandNotFound, HuskError, NoSuchImage

log = logging.getLogger("husk.api")


def json_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=json.dumps({"message": message}).encode(),
                        content_type="application/json")


def _message(exc: HuskError) -> str:
    """The error's message, with the words Docker clients look for to pick an
    exit code (the docker CLI exits 127 on "executable file not found", 126 on
    "permission denied"; docker-py raises ImageNotFound only for "No such
    image") when husk's own wording lacks them."""
    message = str(exc)
    if isinstance(exc, NoSuchImage) and "no such image" not in message.lower():
        return f"No such image: {message}"
    if isinstance(exc, CommandNotFound) and "executable file not found" not in message:
        message += ": executable file not found in $PATH"
    elif isinstance(exc, CommandCannotInvoke) and "permission denied" not in message:
        message += ": permission denied"
    return message


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except HuskError as exc:
        if exc.http_status == 304:  # Docker answers "already started/stopped" with an empty 304
            return web.Response(status=304)
        return json_error(exc.http_status, _message(exc))
    except web.HTTPException as exc:
        if exc.status >= 400:  # aiohttp's own (unknown route, wrong method, body too large) and a stalled body
            response = json_error(exc.status, exc.reason if exc.status != 404 else f"page not found: {request.path}")
            if not request.content.at_eof():
                response.force_close()  # the rest of the body is not worth waiting for
            return response
        raise
    except Exception as exc:  # a bug: answer 500, keep serving, log where it was
        if isinstance(exc, ConnectionError) and (request.transport is None or request.transport.is_closing()):
            # the client left in the middle of the answer (a followed log, stats): nobody is there
            # to tell, and aiohttp would log the error with a traceback; a broken connection that
            # is not the client's (one to a monitor) escaping a handler is a bug like any other
            return web.Response()  # dropped on the closed connection
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the host's disk, not a bug
            return json_error(500, exc.strerror + (f": {exc.filename}" if exc.filename else ""))
        log.exception("internal error in %s %s", request.method, request.path)
        return json_error(500, f"internal error: {type(exc).__name__}: {exc}")
