"""Attached containers on this terminal: `attach`, and `run`/`start -a` through run_attached.

`run` and `start -a` use :meth:`Container.start_and_attach`, which connects to
the monitor's attach socket before it starts the process, so not a byte of
early output is lost.  One loop in the main thread then copies output to
stdout and stderr (a TTY's output is one stream, all on stdout) and stdin to
the container (watched for the detach keys only when the local terminal is
raw; piped input is data); it ends when the monitor closes the socket (the
container exited) or the user detaches.

With a TTY and stdin attached, the local terminal is put in raw mode: the
container's line discipline echoes, edits lines and turns ^C into SIGINT, so
signals are not proxied then (podman does the same).  The container's
terminal gets the local window size right after attaching, and again on
every SIGWINCH.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from typing import TYPE_CHECKING

from ..define import ContainerRemoved, HuskError, NoSuchContainer, State
from ..presentation.terminal import DEFAULT_DETACH_KEYS
from .common import CONTEXT, detach_keys_option, sig_proxy_option

if TYPE_CHECKING:
    from ..engine.attach_protocol import AttachClient
    from ..engine.container import Container

def run_attached(container: "Container", attach_stdin: bool, remove: bool | None = None, sig_proxy: bool = True,
                 detach_keys: str = DEFAULT_DETACH_KEYS) -> int:
    """Start `ctr` attached (or attach, when it is running already, as podman's
    `start -a` does); return its exit code, or 0 when the user detached.
    Removes it afterwards when `remove` (default: the container's --rm)."""
    from ..engine.lifecycle import read_exit_file
    from ..presentation.terminal import parse_detach_keys

    remove = container.config.auto_remove if remove is None else remove
    keys = parse_detach_keys(detach_keys)
    detached = False
    streams = container.config.run_options.attach  # --attach/-a: only these (none given: all)
    if streams:
        attach_stdin = attach_stdin and "stdin" in streams
    client = None
    removed = False
    try:
        with _Session(container, attach_stdin, sig_proxy, streams) as session:
            if container.state.state is State.RUNNING:
                client = session.sized(container.attach())
            else:
                client = container.start_and_attach(recursive=True, console_size=session.size(), cleans_up=True)
            detached = session.copy(client, keys)
            session.client = None  # closed below, after the cleanup its monitor waits for
        if detached:
            return 0
        exit_info = read_exit_file(container) if remove else None
        if exit_info is not None:
            # the monitor writes the exit file before it ends the output: the removal
            # records the exit with its own write, no wait() (and its write) first
            removed = True
            try:
                container.remove(force=True, timeout=0, volumes=True)  # --rm: anonymous volumes too, as podman
            except (NoSuchContainer, ContainerRemoved):  # another removal came first (its exit command, rm -f)
                return exit_info[0]
            return container.state.exit_code
        code = container.wait()
        _clean_up(container)
        return code
    finally:
        if remove and not detached and not removed:
            try:
                container.remove(force=True, timeout=0, volumes=True)  # --rm: anonymous volumes too, as podman
            except (NoSuchContainer, ContainerRemoved):
                pass
        if client is not None:
            client.close()


def attach_to(container: "Container", no_stdin: bool, sig_proxy: bool, detach_keys: str) -> int:
    """`husk attach`: the container's exit code once it exits, 0 on detach."""
    from ..presentation.terminal import parse_detach_keys

    keys = parse_detach_keys(detach_keys)
    with _Session(container, container.config.stdin_open and not no_stdin, sig_proxy) as session:
        if session.copy(session.sized(container.attach()), keys):
            return 0
    code = container.wait()
    _clean_up(container)
    return code


class _Session:
    """The local side of one attach: terminal mode, signal and SIGWINCH
    handlers (all put back on exit), and the copy loop."""

    def __init__(self, container: "Container", attach_stdin: bool, sig_proxy: bool,
                 streams: list[str] | None = None) -> None:
        from ..presentation.terminal import window_size

        self.container = container
        self.dropped = frozenset(number for number, name in ((1, "stdout"), (2, "stderr"))
                                 if streams and name not in streams)
        self.stdin = attach_stdin
        self.tty = container.config.tty
        self.terminal = next((fd for fd in (0, 1) if window_size(fd) is not None), None)
        self.raw = self.tty and self.stdin and self.terminal == 0
        self.sig_proxy = sig_proxy and not self.raw
        self.stack = contextlib.ExitStack()
        self.client: "AttachClient | None" = None

    def __enter__(self) -> "_Session":
        from ..presentation.terminal import raw_mode

        if self.sig_proxy:
            self.stack.enter_context(_proxied_signals(self.container))
        if self.raw:
            self.stack.enter_context(raw_mode(0))
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            self.stack.close()

    def size(self) -> tuple[int, int] | None:
        """The local window size for a TTY container (None: no TTY or no terminal)."""
        from ..presentation.terminal import window_size

        if not self.tty or self.terminal is None:
            return None
        size = window_size(self.terminal)
        return size if size and all(size) else None

    def sized(self, client: "AttachClient") -> "AttachClient":
        """`client`, with the container's terminal set to the local size."""
        size = self.size()
        if size:
            _quietly(client.resize, *size)
        return client

    def copy(self, client: "AttachClient", keys: bytes) -> bool:
        """Copy until the output ends (False) or the user detaches (True)."""
        self.client = client
        # detach keys only from a raw terminal: piped input is data (see copy_streams)
        detached = copy_streams(client, stdin=self.stdin, keys=keys if self.raw else b"",
                                window_fd=self.terminal if self.tty else None, dropped=self.dropped)
        if detached:
            self._after_detach()
        return detached

    def _after_detach(self) -> None:
        """Leave the prompt on a line of its own (restoring the terminal first)."""
        self.stack.close()
        if self.terminal is not None and os.isatty(1):
            sys.stdout.buffer.write(b"\n")
            sys.stdout.flush()


def copy_streams(client: "AttachClient", *, stdin: bool, keys: bytes, window_fd: int | None,
                 dropped: frozenset[int] = frozenset()) -> bool:
    """The one copy loop of attach, run and exec: the connection's output to this
    process's stdout and stderr, and (with `stdin`) stdin to the connection,
    watched for the detach keys `keys` (b"": every byte is data).  Returns
    False when the output ends, True when the user detached.  With
    `window_fd`, the remote terminal follows its size.  Output of the streams
    in `dropped` (1 stdout, 2 stderr: those `--attach` left out) is read and discarded.

    Callers pass the keys only when the local terminal is raw (a TTY
    container, stdin attached and a terminal), as podman and Docker watch for
    them only there: piped or redirected input is data, whatever its bytes.

    Stdin is read only once the monitor has taken what was read before (it
    stops taking input while the container does not read it): output keeps
    flowing meanwhile, and the writer of a pipe into us waits, as it would
    for the container itself."""
    import selectors

    from ..engine.attach_protocol import CLOSE_STDIN_PACKET, STREAM_STDERR, stdin_packets
    from ..presentation.terminal import DetachMatcher, follow_window_size

    stdout, stderr = sys.stdout.buffer, sys.stderr.buffer
    matcher = DetachMatcher(keys)
    outgoing: list[bytes] = []  # stdin packets the monitor has not taken yet
    reading = stdin
    # poll, unlike epoll, takes a regular file as stdin
    with contextlib.ExitStack() as stack, selectors.PollSelector() as selector:
        if window_fd is not None:
            stack.enter_context(follow_window_size(window_fd, client.resize))
        selector.register(client.sock, selectors.EVENT_READ)
        if stdin:
            try:
                selector.register(0, selectors.EVENT_READ)
            except (OSError, ValueError):
                reading = False  # no stdin to forward: EOF at once
                outgoing.append(CLOSE_STDIN_PACKET)
        while True:
            if outgoing:
                _send(client, outgoing)
            _watch(selector, client.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if outgoing else 0))
            if stdin:
                _watch(selector, 0, selectors.EVENT_READ if reading and not outgoing else 0)
            for key, events in selector.select():
                if key.fileobj is client.sock:
                    if not events & selectors.EVENT_READ:
                        continue  # writable: sent at the top of the loop
                    message = client.recv()
                    if message is None:
                        return False
                    if message[0] in dropped:
                        continue
                    out = stderr if message[0] == STREAM_STDERR else stdout
                    out.write(message[1])
                    out.flush()
                    continue
                data = _read_stdin()
                if not data:
                    reading = False
                    outgoing.append(CLOSE_STDIN_PACKET)
                    continue
                data, detach = matcher.feed(data)
                outgoing += stdin_packets(data)
                if detach:
                    _send(client, outgoing)  # what came before the keys, as far as it goes now
                    return True


def _send(client: "AttachClient", outgoing: list[bytes]) -> None:
    try:
        client.send_ready(outgoing)
    except OSError:
        outgoing.clear()  # the monitor closed the socket: the output loop sees the end next


def _watch(selector, fileobj, events: int) -> None:
    """Watch `fileobj` for `events` (0: not at all), whatever it was watched for before."""
    try:
        current = selector.get_key(fileobj).events
    except KeyError:
        current = 0
    if events == current:
        return
    if not events:
        selector.unregister(fileobj)
    elif not current:
        selector.register(fileobj, events)
    else:
        selector.modify(fileobj, events)


def _read_stdin() -> bytes:
    try:
        return os.read(0, 32768)
    except OSError:
        return b""  # a hung-up terminal ends stdin as EOF does


def _quietly(send, *args) -> None:
    try:
        send(*args)
    except OSError:
        pass  # the monitor closed the socket: the output loop sees the end next


def _proxied_signals(container: "Container"):
    """Forward the signals this CLI gets to the container (podman's --sig-proxy,
    on by default): Ctrl-C or a `kill` of `husk run` reaches the process.

    Each signal goes through `Container.kill` (the lock, the state check, the
    kill event, stopped-by-user, as podman's proxy does), from a thread with its
    own handle on the container: the handler interrupts the main thread, which
    may hold the container's lock at that moment, and one handle's lock and
    state are not to be shared between threads."""
    return proxied_signals(lambda number: container.runtime.container(container.id).kill(number))


@contextlib.contextmanager
def proxied_signals(kill):
    """While in the block, the proxied signals this CLI gets go to `kill(number)`, each from a thread
    of its own (an error saying the container is not running is dropped); the remote `run` passes
    one that asks the service."""
    import signal
    import threading

    def send(number: int) -> None:
        try:
            kill(number)
        except HuskError:
            pass  # not started yet, exited meanwhile, or removed

    def forward(number, _frame) -> None:
        threading.Thread(target=send, args=(number,), name=f"sig-proxy-{number}").start()

    numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
    previous = {number: signal.signal(number, forward) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _clean_up(container: "Container") -> None:
    """Clean up now rather than leave it to the monitor's exit command, so the
    state is `exited` (not `stopped`) when `run` or `attach` returns, whatever a script
    inspects next.  Whoever comes second finds nothing to do."""
    try:
        container.cleanup()
    except HuskError:
        pass  # restarted by its policy, or removed meanwhile: nothing to clean


# -- the verb -----------------------------------------------------------------------------
@click.command(context_settings=CONTEXT)
@detach_keys_option
@click.option("--no-stdin", is_flag=True, help="Do not attach stdin.")
@sig_proxy_option
@click.option("-l", "--latest", is_flag=True, help="Attach to the container created last.")
@click.argument("name", required=False)
@click.pass_obj
def attach(session, detach_keys, no_stdin, sig_proxy, latest, name):
    """Attach to a created or running container's output (and stdin, when it was created with -i)."""
    from .targets import targets

    name = targets(session, [name] if name else [], latest=latest)[0]
    raise SystemExit(attach_to(session.runtime.container(name), no_stdin, sig_proxy, detach_keys))


def register(group: click.Group) -> None:
    group.commands["container"].add_command(attach)
    group.add_command(attach)
