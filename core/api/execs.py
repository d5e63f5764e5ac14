"""Docker's exec routes: create, start (hijacked), resize, inspect.

Docker splits an exec in two: `create` only records what to run (an entry in
an in-memory table, keyed by an id of its own), `start` runs it through
:meth:`husk.Container.exec_start` and streams it with the attach forwarding of
:mod:`husk.api.streams`.  The terminal and the output framing follow the `Tty`
of the start body when it has one (Docker's rule; the create's otherwise).

An exec always starts attached: a detached start drops its connection to the
output at once, but the session stays one whose exit code husk keeps, so
`/exec/{id}/json` can report it.  Nothing waits in a thread for a detached
exec (a long one would hold up the service's shutdown): its end is noticed
when someone asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncio
import contextlib
import secrets
import threading
import time

import msgspec
from aiohttp import web

from ..define import HuskError, InvalidArgument, NoSuchExecSession, State, StateInvalid
from ..formats.environment import split_entry
from . import blocking
from .responses import json_response
from .requests import StrOrList, console_size, decode_body, integer, string_list
from .keys import EXECS, RUNTIME

if TYPE_CHECKING:
    from ..engine.container import Container

routes = web.RouteTableDef()
#: podman's libpod exec routes are Docker's, under the libpod prefix
libpod_routes = routes
#: finished entries, and entries never started, older than this are dropped when a new
#: exec is created (Docker drops unstarted ones after 5 minutes): a client cannot grow
#: the table for ever with creates alone
KEEP_SECONDS = 600


class ExecCreateBody(msgspec.Struct, rename="pascal"):
    cmd: StrOrList = None
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str | None = None
    tty: bool = False
    env: list[str] | dict[str, str] | None = None  # podman-py may send a map
    privileged: bool = False
    user: str = ""
    working_dir: str | None = None  # podman-py sends null
    console_size: list[int] | None = None


class ExecStartBody(msgspec.Struct, rename="pascal"):
    detach: bool = False
    tty: bool | None = None
    console_size: list[int] | None = None


class ExecEntry:
    """One exec as Docker knows it: its configuration, then its process and exit code."""

    def __init__(self, exec_id: str, container: "Container", config: ExecCreateBody) -> None:
        self.id = exec_id
        self.container = container
        self.config = config
        self.tty = config.tty
        self.console_size = console_size(config.console_size)
        self.process = None  # the ExecProcess once started
        self.started = False
        self.launched = asyncio.Event()  # set once a start has run (or failed to run) the process
        self.exit_code: int | None = None
        self.created_at = time.time()
        self.finished_at = 0.0
        self._reaping = threading.Lock()

    def finish(self, code: int) -> None:
        self.exit_code = code
        self.finished_at = time.time()

    def reap(self) -> None:
        """Wait for the process and keep its exit code (blocking; once, whoever asks first)."""
        with self._reaping:
            if self.exit_code is not None:
                return
            try:
                self.finish(self.process.wait())
            except HuskError:
                self.finish(-1)  # its record went with the container

    def refresh(self) -> None:
        """Notice the end of a process nobody waited for (detached, or its client left)."""
        from ..engine.exec_session import exit_code

        process = self.process
        if process is None or self.exit_code is not None:
            return
        if exit_code(self.container, process.id) is None and _alive(process.session.monitor_pid):
            return
        self.reap()

    @property
    def running(self) -> bool:
        return self.process is not None and self.exit_code is None

    def document(self) -> dict:
        config = self.config
        command = string_list(config.cmd) or []
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
            "ProcessConfig": {"tty": self.tty, "entrypoint": command[0] if command else "",
                              "arguments": command[1:], "privileged": config.privileged, "user": config.user},
            "OpenStdin": config.attach_stdin, "OpenStdout": config.attach_stdout,
            "OpenStderr": config.attach_stderr, "CanRemove": False, "ContainerID": self.container.id,
            "DetachKeys": config.detach_keys or "",
            "Pid": self.process.session.pid if self.process is not None else 0,
        }


def _alive(pid: int) -> bool:
    from ..engine.processes import pid_alive

    return pid_alive(pid)




def prune(table: dict[str, ExecEntry], now: float) -> None:
    """Drop the entries finished, or created and never started, more than KEEP_SECONDS ago."""
    cutoff = now - KEEP_SECONDS
    for old in [entry for entry in table.values()
                if (entry.exit_code is not None and entry.finished_at < cutoff)
                or (not entry.started and entry.created_at < cutoff)]:
        del table[old.id]


def setup(app: web.Application) -> None:
    """The in-memory table of execs, by id (Docker's execs do not outlive the daemon either)."""
    app[EXECS] = {}


def _table(request: web.Request) -> dict[str, ExecEntry]:
    return request.app[EXECS]


def _entry(request: web.Request) -> ExecEntry:
    exec_id = request.match_info["id"]
    entry = _table(request).get(exec_id)
    if entry is None:
        raise NoSuchExecSession(f"No such exec instance: {exec_id}")
    return entry


@routes.post("/containers/{id}/exec")
async def create(request: web.Request) -> web.Response:
    body = await decode_body(request, ExecCreateBody)
    if isinstance(body.env, dict):
        body.env = [f"{key}={value}" for key, value in body.env.items()]
    command = string_list(body.cmd)
    if not command:
        raise InvalidArgument("No exec command specified")
    for entry in body.env or []:
        if "=" not in entry:  # podman's API looks up no value in the service's environment
            from ..formats.gofmt import go_quote

            raise InvalidArgument(f"environment variable {go_quote(entry)} badly formed, must be key=value")
        split_entry(entry)
    if body.detach_keys:
        from .streams import parse_detach_keys

        parse_detach_keys(body.detach_keys)

    def check():
        container = request.app[RUNTIME].container(request.match_info["id"])
        container.sync_if_unlocked()
        if container.state.state == State.PAUSED:
            raise StateInvalid(f"Container {container.id} is paused, unpause the container before exec", improper=False)
        if container.state.state != State.RUNNING:
            raise StateInvalid(f"Container {container.id} is not running", improper=False)
        return container

    container = await blocking.run(check)
    entry = ExecEntry(secrets.token_hex(32), container, body)
    table = _table(request)
    prune(table, time.time())
    table[entry.id] = entry
    return json_response({"Id": entry.id}, status=201)


@routes.post("/exec/{id}/start")
async def start(request: web.Request) -> web.StreamResponse:
    from .hijack import MULTIPLEXED_STREAM, RAW_STREAM, frame, hijack
    from .streams import DEFAULT_DETACH_KEYS, forward, parse_detach_keys

    body = await decode_body(request, ExecStartBody)
    entry = _entry(request)
    if entry.started:
        raise StateInvalid(f"Exec command {entry.id} {'is already running' if entry.running else 'has already run'}",
                           improper=False)
    if body.tty is not None:
        entry.tty = body.tty
    entry.console_size = console_size(body.console_size) or entry.console_size
    config = entry.config
    entry.started = True
    if body.detach:
        try:
            process = await _exec_start(entry, interactive=False)
        except HuskError as exc:
            entry.finish(exc.exit_code)
            raise
        process.client.close()  # nobody reads it; the session still records its exit code
        process.client = None
        return web.Response(status=200)
    want = {name for name, on in (("stdout", config.attach_stdout), ("stderr", config.attach_stderr)) if on}
    detach_keys = parse_detach_keys(DEFAULT_DETACH_KEYS if config.detach_keys is None else config.detach_keys)
    # The 101 goes out (and is read: see hijack) before the process starts,
    # as Docker's does.  Not a byte of output is lost: the session's client
    # is connected before the command runs.
    stream = await hijack(request, RAW_STREAM if entry.tty else MULTIPLEXED_STREAM)
    process = None
    try:
        try:
            process = await _exec_start(entry, interactive=config.attach_stdin)
        except HuskError as exc:
            # The failure goes into the stream, its exit code (126, 127)
            # to /exec/{id}/json, where clients look for it.
            entry.finish(exc.exit_code)
            message = str(exc).encode() + b"\n"
            await stream.write(message if entry.tty else frame(2, message))
            return stream.response
        ended = await forward(process.client, stream, entry.tty, want, config.attach_stdin, detach_keys)
        if ended:  # the exit code is known before the client, which asks for it next, is let go
            await blocking.run(entry.reap)
    except ConnectionResetError:
        pass
    finally:
        entry.launched.set()
        if process is not None and process.client is not None and entry.exit_code is None:
            if config.attach_stdin and not entry.tty and (stream.is_closed or stream.transport.is_closing()):
                # The client is gone (a reset, not a half-close): nobody can attach to an exec
                # again, so its input is over, as Docker's is.  Left open, a command reading its
                # stdin would run for ever.  Not with a TTY: the docker CLI detaches by hanging up.
                with contextlib.suppress(OSError):
                    process.client.close_stdin()
            process.client.close()
            process.client = None
        stream.close()
    return stream.response


async def _exec_start(entry: ExecEntry, interactive: bool):
    config = entry.config
    try:
        entry.process = await blocking.run(
            entry.container.exec_start, string_list(config.cmd), env=config.env or (), user=config.user,
            workdir=config.working_dir or "", tty=entry.tty, privileged=config.privileged, interactive=interactive,
            console_size=entry.console_size)
    finally:
        entry.launched.set()
    return entry.process


@routes.post("/exec/{id}/resize")
async def resize(request: web.Request) -> web.Response:
    rows, cols = integer(request, "h", 0), integer(request, "w", 0)
    if not (0 < rows <= 0xFFFF and 0 < cols <= 0xFFFF):
        raise InvalidArgument(f"invalid terminal size {rows}x{cols}: rows and columns must be 1 to 65535")
    entry = _entry(request)
    if not entry.started:
        entry.console_size = (rows, cols)  # applied when it starts
        return web.Response(status=200)
    await entry.launched.wait()  # a resize sent right after the start (the docker CLI's) waits for it
    await blocking.run(entry.refresh)
    if not entry.running:
        raise StateInvalid(f"Exec session {entry.id} is not running", improper=False)
    client = entry.process.client
    if entry.tty and client is not None:
        try:
            client.resize(rows, cols)
        except OSError as exc:
            raise StateInvalid(f"Exec session {entry.id} is not running: {exc}", improper=False) from None
    return web.Response(status=200)


@routes.get("/exec/{id}/json")
async def inspect(request: web.Request) -> web.Response:
    entry = _entry(request)
    await blocking.run(entry.refresh)
    return json_response(entry.document())
