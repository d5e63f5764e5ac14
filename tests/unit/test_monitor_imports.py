"""What the monitor (core/monitor.py) loads: its memory is paid once per
running container, so a detached container's monitor that nobody attaches to
must not load the socket module (0.08 MiB of PSS each, measured)."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

CORE = pathlib.Path(__file__).resolve().parents[2] / "core"

LISTEN = """
import sys
sys.path.append(sys.argv[1])
import monitor
monitor.become_subreaper()
fd, address, holder = monitor.listen_unix(sys.argv[2], monitor.SOCK_SEQPACKET)
print("_socket" in sys.modules, address == sys.argv[2], holder)
"""


def test_the_attach_socket_listens_without_the_socket_module(tmp_path):
    path = tmp_path / "attach"
    result = subprocess.run([sys.executable, "-I", "-S", "-c", LISTEN, str(CORE), str(path)],
                            capture_output=True, text=True, env={}, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split() == ["False", "True", "[]"]
    mode = os.lstat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_a_long_path_binds_through_its_directory(tmp_path):
    """Past the 107 bytes of an AF_UNIX address: /proc/PID/fd/DIRFD/NAME."""
    directory = tmp_path / ("d" * 100)
    directory.mkdir()
    result = subprocess.run([sys.executable, "-I", "-S", "-c", LISTEN, str(CORE), str(directory / "attach")],
                            capture_output=True, text=True, env={}, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split()[:2] == ["False", "False"]  # the /proc address, its dir fd held
    assert stat.S_ISSOCK(os.lstat(directory / "attach").st_mode)
