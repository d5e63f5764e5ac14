"""The monitor's listening sockets (husk.monitor.listen_unix, also the API
service's): a path too long even through /proc/PID/fd/DIRFD is refused, as
socket.bind refused it, never bound under a truncated name."""

from __future__ import annotations

import os

import pytest

from husk import monitor
from husk.monitor import base


def test_an_address_past_the_limit_is_refused_not_truncated(tmp_path):
    path = tmp_path / ("x" * 100)  # the /proc/PID/fd/N/ form of it is past 108 bytes too
    with pytest.raises(OSError, match="too long"):
        monitor.listen_unix(str(path), base.SOCK_STREAM)
    assert os.listdir(tmp_path) == []


def test_a_long_path_is_bound_through_its_directory(tmp_path):
    directory = tmp_path / ("d" * 100)
    directory.mkdir()
    fd, address, holder = monitor.listen_unix(str(directory / "attach"), base.SOCK_STREAM)
    try:
        assert address.startswith("/proc/") and os.listdir(directory) == ["attach"]
    finally:
        for descriptor in (fd, *holder):
            os.close(descriptor)
