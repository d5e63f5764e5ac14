"""Container output to clients: `logs` (framed) and `attach` (hijacked, both ways).

Without a TTY both use Docker's 8-byte frame per chunk (per line for logs, so
each frame's length covers the line's newline); with a TTY, raw bytes.  Attach
speaks to the container's monitor through its attach socket, made
non-blocking and driven by the event loop: no thread per attached client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncio
import os
import time
from collections.abc import Iterator

from aiohttp import web

from ..engine.attach_protocol import CLOSE_STDIN_PACKET, MAX_DATA, STREAM_STDERR, STREAM_STDOUT, AttachClient, stdin_packets
from ..define import HuskError, InvalidArgument, NoSuchContainer, State, StateInvalid
# Docker's detach-key notation is podman's (moby's term.ToBytes): one parser and matcher for both.
from ..presentation.terminal import DEFAULT_DETACH_KEYS, DetachMatcher, parse_detach_keys
from . import blocking
from .hijack import MULTIPLEXED_STREAM, RAW_STREAM, RawStream, frame, hijack
from .requests import flag
from .keys import WATCHER

if TYPE_CHECKING:
    from ..engine.container import Container

_STREAM_IDS = {"stdout": STREAM_STDOUT, "stderr": STREAM_STDERR}
#: how often a followed log re-reads its container's state when nothing woke it
_RECHECK_SECONDS = 5.0
#: tries at a log snapshot that meets the live stream exactly (see _attach_at_log_end)
_REPLAY_JOIN_ATTEMPTS = 10


def _log_options(request: web.Request) -> dict:
    from ..formats.timestamps import ZERO_TIME, parse_time, parse_until

    tail = request.query.get("tail", "all")
    if tail != "all" and tail != "-1" and not (tail.isascii() and tail.isdigit() and len(tail) <= 18):
        raise InvalidArgument(f"invalid tail {tail!r}: a number of lines or \"all\"")
    since, until = request.query.get("since", ""), request.query.get("until", "")
    unset = ("", "0", ZERO_TIME)  # podman-remote sends Go's zero time for "not given"
    return {"tail": None if tail in ("all", "-1") else int(tail),  # -1: podman-remote's "all"
            "since": parse_time(since) if since not in unset else None,
            "until": parse_until(until) if until not in unset else None}


def _encode(line, tty: bool, timestamps: bool) -> bytes:
    from ..formats.timestamps import format_rfc3339_nano

    data = format_rfc3339_nano(line.time_ns).encode() + b" " + line.text if timestamps else line.text
    return data if tty else frame(_STREAM_IDS[line.stream], data)


async def stream_logs(request: web.Request, container: "Container") -> web.StreamResponse:
    from ..engine.logs import read_log

    streams = {name for name in ("stdout", "stderr") if flag(request, name)}
    if not streams:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    follow, timestamps = flag(request, "follow"), flag(request, "timestamps")
    options = _log_options(request)
    tty = container.config.tty
    path = container.runtime.paths.log_path(container.id)
    response = web.StreamResponse(headers={"Content-Type": RAW_STREAM if tty else MULTIPLEXED_STREAM})
    await response.prepare(request)

    async def send(lines) -> None:
        for line in lines:
            if line.stream in streams:
                await response.write(_encode(line, tty, timestamps))

    if follow:
        await _follow_log(request.app[WATCHER], container, path, options, send)
    else:
        async for line in blocking.iterate(lambda stop: read_log(path, **options)):
            await send((line,))
    await response.write_eof()
    return response


async def _follow_log(watcher, container: "Container", path: str, options: dict, send) -> None:
    """The log's lines, then new ones as the monitor writes them, until the
    container is no longer running (or `until`, or the service stops).  Woken
    by the log's directory and the exits directory (husk.api.watch); the
    container's state is read (in a worker thread) only when a wake brought
    no new line, and at least every _RECHECK_SECONDS."""
    from ..engine.logs import LogFollower

    directories = [container.runtime.paths.exits_dir]
    if os.path.isdir(os.path.dirname(path)):  # not made here: the container may be gone
        directories.append(os.path.dirname(path))
    with watcher.subscribe(*directories) as changes, LogFollower(path, **options) as follower:
        async for line in blocking.iterate(lambda stop: follower.initial()):  # up to the whole log
            await send((line,))
        while not follower.ended and not watcher.stopped:
            lines = follower.new()
            await send(lines)
            if lines:
                continue
            if not await blocking.run(_running, container):
                await send(follower.new())
                break
            until = options["until"]
            await changes.wait(_RECHECK_SECONDS if until is None else min(_RECHECK_SECONDS,
                                                                          max(0.0, until - time.time())))
        await send(follower.rest())


def _running(container: "Container") -> bool:
    try:
        container.reload()
    except NoSuchContainer:
        return False
    container.sync_if_unlocked()
    return container.state.state in (State.RUNNING, State.PAUSED, State.CREATED)


# -- attach ---------------------------------------------------------------------------------
async def attach(request: web.Request, container: "Container") -> web.StreamResponse:
    """`POST /containers/{id}/attach`: replay the log (`logs=1`), then the live stream (`stream=1`).

    A container that has not been started is created in the runtime first, so
    not a byte of its output is missed when `/start` comes.  If that fails
    (a bad executable), the attach still succeeds, as Docker's does: the error
    is the one `/start` reports."""
    live, replay = flag(request, "stream"), flag(request, "logs")
    want = {name for name in ("stdout", "stderr") if flag(request, name)}
    forward_stdin = flag(request, "stdin") and container.config.stdin_open
    detach_keys = parse_detach_keys(request.query.get("detachKeys", DEFAULT_DETACH_KEYS))
    tty = container.config.tty
    client: AttachClient | None = None
    log_lines = None
    if live:
        if container.state.state in (State.CONFIGURED, State.STOPPED, State.EXITED):
            try:
                await blocking.run(container.init)
            except StateInvalid:
                pass  # started meanwhile by someone else: attach to it as it is
            except HuskError:
                live = False  # /start will fail the same way and say why
        if live and replay:
            client, log_lines = await blocking.run(_attach_at_log_end, container)
        elif live:
            client = await blocking.run(container.attach)
    try:
        stream = await hijack(request, RAW_STREAM if tty else MULTIPLEXED_STREAM)
    except BaseException:
        if client is not None:
            client.close()
        raise
    try:
        if replay:
            await _replay_log(stream, container, want, tty, log_lines)
        if client is not None:
            await forward(client, stream, tty, want, forward_stdin, detach_keys)
        elif flag(request, "stream"):
            while await stream.read() is not None:  # init failed: hold the line until the client,
                pass                                # told by /start, hangs up
    except ConnectionResetError:
        pass  # the client went away: everything is released below
    finally:
        if client is not None:
            client.close()
        stream.close()
    return stream.response


async def _replay_log(stream: RawStream, container: "Container", want: set[str], tty: bool, lines=None) -> None:
    from ..engine.logs import read_log

    path = container.runtime.paths.log_path(container.id)
    async for line in blocking.iterate(lambda stop: read_log(path) if lines is None else lines):
        if line.stream in want:
            await stream.write(_encode(line, tty, False))


def _attach_at_log_end(container: "Container") -> "tuple[AttachClient, Iterator]":
    """An attach connection and the log's lines, meeting exactly: every chunk
    of output is in the replay or in the live stream, never both or neither.

    The monitor logs a chunk, then sends it to the clients it has accepted.
    So: note the log's size, connect, wait until the monitor has read a no-op
    from us (it has accepted us), open the log's snapshot, and check the size
    again.  Unchanged, nothing was logged meanwhile: the snapshot holds what
    came before, the connection gets everything after.  Changed (a busy
    container), try again on a new connection; after the last try a few
    chunks may show twice, as before this check."""
    import itertools

    from ..engine.logs import read_log

    path = container.runtime.paths.log_path(container.id)
    before = _log_identity(path)
    client = container.attach()
    for attempt in range(_REPLAY_JOIN_ATTEMPTS):
        _wait_accepted(client)
        lines = read_log(path)
        first = next(lines, None)  # the first read opens the snapshot
        if _log_identity(path) == before or attempt == _REPLAY_JOIN_ATTEMPTS - 1:
            break
        before = _log_identity(path)
        try:
            fresh = AttachClient.connect(container.runtime.paths.attach_socket(container.id))
        except OSError:
            break  # the container is exiting: its output is ending anyway
        client.close()
        client = fresh
    return client, itertools.chain(() if first is None else (first,), lines)


def _log_identity(path: str) -> tuple[int, int] | None:
    import os

    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size


def _wait_accepted(client: AttachClient, timeout: float = 2.0) -> None:
    """Send the monitor a message it ignores (a resize without a size) and wait
    until it has read it: our bytes leave the socket's queue only then."""
    import fcntl
    import struct
    import termios
    import time

    from ..engine.attach_protocol import MSG_RESIZE

    deadline = time.monotonic() + timeout
    try:
        client.sock.send(bytes([MSG_RESIZE]))
        while time.monotonic() < deadline:
            queued = struct.unpack("i", fcntl.ioctl(client.sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            if queued == 0:
                return
            time.sleep(0.0005)
    except OSError:
        pass  # the monitor is gone: nothing more will come live


async def forward(client: AttachClient, stream: RawStream, tty: bool, want: set[str], forward_stdin: bool,
                   detach_keys: bytes) -> bool:
    """Copy the monitor's output to the client and the client's input to the
    monitor until the output ends, the client leaves, or it sends the detach keys.
    True when it was the output that ended (the process is gone or going).

    The detach keys count only with a TTY, as in Docker: without one the
    input is data, every byte of it.  Input goes to the monitor as fast as the
    process reads it (the monitor stops taking it meanwhile, and then so do
    we: the client's writes wait), while output keeps flowing."""
    loop = asyncio.get_running_loop()
    sock = client.sock
    sock.setblocking(False)
    wanted_ids = {_STREAM_IDS[name] for name in want}

    async def output() -> None:
        while True:
            try:
                packet = await loop.sock_recv(sock, MAX_DATA + 1)
            except ConnectionResetError:
                return
            if not packet:
                return
            if len(packet) > 1 and packet[0] in wanted_ids:
                data = packet[1:]
                await stream.write(data if tty else frame(packet[0], data))

    async def input_() -> bool:
        """True when the client detached; False at the end of its input.

        As in Docker, the end of the input closes the process's stdin only
        without a TTY.  With one it ends the attach and leaves the terminal
        open: the docker CLI handles the detach keys itself and just hangs up,
        and an EOF there would end the shell it meant to leave running."""
        matcher = DetachMatcher(detach_keys if forward_stdin and tty else b"")
        while (data := await stream.read()) is not None:
            if not forward_stdin:
                continue
            data, detached = matcher.feed(data)
            for packet in stdin_packets(data):
                await loop.sock_sendall(sock, packet)
            if detached:
                return True
        if not forward_stdin:
            return False
        if tty:
            return True
        if not stream.is_closed:
            await loop.sock_sendall(sock, CLOSE_STDIN_PACKET)
        return False

    output_task = asyncio.ensure_future(output())
    input_task = asyncio.ensure_future(input_())
    try:
        while True:
            waiting = {output_task, stream.closed} | ({input_task} if not input_task.done() else set())
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if output_task in done or stream.closed in done:
                break
            if input_task in done and (input_task.exception() is not None or input_task.result()):
                break  # detached, or the monitor refused our input: stop here
        if output_task.done() and output_task.exception() is not None:
            raise output_task.exception()
        return output_task.done()
    finally:
        for task in (output_task, input_task):
            task.cancel()
        await asyncio.gather(output_task, input_task, return_exceptions=True)

