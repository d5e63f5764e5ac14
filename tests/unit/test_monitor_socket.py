"""An ending monitor removes its attach socket's path only while the path is
still its own (husk.monitor.Monitor.remove_socket): after the container's
exit it may flush its clients for seconds, and a `start` meanwhile binds the
next monitor's socket at the same path, which the old one removed before."""

from __future__ import annotations

import os

from husk import monitor


def test_the_path_is_removed_only_while_it_is_the_monitors_own(tmp_path):
    path = tmp_path / "attach"
    path.write_bytes(b"")
    ending = monitor.Monitor({"attach_socket": str(path)})
    ending.socket_identity = monitor.path_identity(str(path))
    os.unlink(path)
    path.write_bytes(b"")  # the next monitor's socket, bound at the same path (perhaps with the same inode number)
    os.utime(path, ns=(1, 1))  # made later: file times are coarse, a test makes its files within one tick
    ending.remove_socket()
    assert path.exists()
    mine = monitor.Monitor({"attach_socket": str(path)})
    mine.socket_identity = monitor.path_identity(str(path))
    mine.remove_socket()
    assert not path.exists()
    mine.remove_socket()  # gone already: nothing to do
    assert monitor.path_identity(str(path)) is None
