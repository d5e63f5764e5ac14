"""Detach keys and the local terminal helpers."""

from __future__ import annotations

import os
import pty

import pytest

from husk.define import InvalidArgument
from husk.presentation.terminal import DetachMatcher, parse_detach_keys, raw_mode, window_size


def test_parse_detach_keys_podman_forms():
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-[,ctrl-_") == b"a\x00\x1b\x1f"
    assert parse_detach_keys("") == b""
    for bad in ("ctrl-", "ctrl-1", "ab", "ctrl-p,,ctrl-q", "é"):
        with pytest.raises(InvalidArgument):
            parse_detach_keys(bad)


def test_detach_matcher_holds_prefixes_and_detaches():
    matcher = DetachMatcher(b"\x10\x11")
    assert matcher.feed(b"ab\x10") == (b"ab", False)
    assert matcher.feed(b"\x11rest") == (b"", True)
    matcher = DetachMatcher(b"\x10\x11")
    assert matcher.feed(b"\x10x") == (b"\x10x", False)
    assert matcher.feed(b"\x10\x10") == (b"\x10", False)
    assert matcher.feed(b"\x11") == (b"", True)
    assert DetachMatcher(b"").feed(b"\x10\x11") == (b"\x10\x11", False)


def test_raw_mode_and_window_size_on_a_pty():
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        assert window_size(slave) == (33, 111)
        before = termios.tcgetattr(slave)
        with raw_mode(slave):
            assert not termios.tcgetattr(slave)[3] & termios.ICANON
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
    read_end, write_end = os.pipe()
    with raw_mode(read_end):  # not a terminal: nothing to do
        pass
    assert window_size(read_end) is None
    os.close(read_end)
    os.close(write_end)
