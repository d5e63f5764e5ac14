"""The local terminal of an attached CLI: raw mode, its size, detach keys.

Shared by `exec -it`, `attach` and `run -it`: while attached to a container's
TTY the local terminal must pass every key through (raw mode), the container's
terminal must follow the local window size, and a key sequence (podman's
default ctrl-p,ctrl-q) detaches without stopping the process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from ..define import InvalidArgument

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

#: the `ctrl-X` names podman accepts besides ctrl-a..ctrl-z, and their bytes
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put the terminal at `fd` in raw mode for the block; nothing when `fd` is no terminal."""
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def window_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal at `fd`, or None when it is no terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


@contextlib.contextmanager
def follow_window_size(fd: int, resize: Callable[[int, int], None]) -> Iterator[None]:
    """For the block, call ``resize(rows, columns)`` whenever the terminal at `fd`
    changes size (SIGWINCH).  Main thread only, as any signal handler; the
    previous handler comes back afterwards."""
    import signal

    def on_winch(_number, _frame) -> None:
        size = window_size(fd)
        if size and all(size):
            try:
                resize(*size)
            except OSError:
                pass  # the container is gone: the attach is ending anyway

    previous = signal.signal(signal.SIGWINCH, on_winch)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def parse_detach_keys(text: str) -> bytes:
    """podman's --detach-keys (and Docker's detachKeys): comma-separated keys,
    each one ASCII character or `ctrl-<x>` (x in a-z, @, [, \\, ], ^, _).  An
    empty string disables detaching (b"").  Anything else, a character that is
    not one byte included, is InvalidArgument."""
    if text == "":
        return b""
    keys = bytearray()
    for key in text.split(","):
        lower = key.lower()
        if len(key) == 1 and key.isascii():  # one byte, as Go's len(key) == 1
            keys.append(ord(key))
        elif lower.startswith("ctrl-") and len(key) == 6 and key[5].isascii() and key[5].isalpha():
            keys.append(ord(lower[5]) - ord("a") + 1)
        elif lower.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL_SPECIAL:
            keys.append(_CTRL_SPECIAL[key[5]])
        else:
            raise InvalidArgument(f"invalid detach keys {text!r}: unknown key {key!r}")
    return bytes(keys)


class DetachMatcher:
    """Finds the detach sequence in a stream of input chunks.

    Bytes that could start the sequence are held back until it is clear they do
    not complete it; then they are passed on, as a terminal user typed them."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, whether the sequence was typed).  On detach, what
        came before the sequence is forwarded and what follows it is dropped."""
        if not self.keys or (not self.held and self.keys[0] not in data):
            return data, False  # the common case, without a loop over every byte
        out = bytearray()
        for byte in data:
            self.held += bytes([byte])
            if self.keys.startswith(self.held):
                if self.held == self.keys:
                    self.held = b""
                    return bytes(out), True
                continue
            # not a prefix any more: flush up to the longest suffix that still is one
            while self.held and not self.keys.startswith(self.held):
                out.append(self.held[0])
                self.held = self.held[1:]
        return bytes(out), False
