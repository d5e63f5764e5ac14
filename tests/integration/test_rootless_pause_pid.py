"""A stale pause.pid (rootless husk, issue 18): the pause process died and its
pid now names another process of the user, in a user namespace of its own.
husk joined that process's namespaces (or, when they refused the join, every
command of the user failed with "cannot join the rootless mnt namespace" for
as long as that process lived); it starts a pause process of its own instead."""

from __future__ import annotations

import os
import signal
import subprocess

from husk.testing import HUSK, wait_until
from test_rootless import new_user  # the same directory (rootdir imports)


def test_a_reused_pause_pid_is_not_joined():
    with new_user(f"huskpp{os.getpid()}") as user:
        first = user.husk("unshare", "readlink", "/proc/self/ns/user")
        assert first.returncode == 0, first.stderr
        pidfile = os.path.join(user.runtime_dir, "husk", "pause.pid")
        with open(pidfile) as handle:
            pause = int(handle.read())
        os.kill(pause, signal.SIGKILL)
        assert wait_until(lambda: not os.path.exists(f"/proc/{pause}/ns/mnt"))
        # another process of the user, in a user namespace of its own (no mount namespace of its own)
        other = subprocess.Popen(user.argv("unshare", "--user", "--map-root-user", "sleep", "1000"),
                                 env=user.env(), cwd=user.home)
        try:
            assert wait_until(lambda: os.readlink(f"/proc/{other.pid}/ns/user") != os.readlink("/proc/self/ns/user")
                              and open(f"/proc/{other.pid}/comm").read().strip() == "sleep")
            with open(pidfile, "w") as handle:
                handle.write(str(other.pid))
            again = user.husk("unshare", "readlink", "/proc/self/ns/user")
            assert again.returncode == 0, again.stderr
            assert again.stdout.strip() != os.readlink(f"/proc/{other.pid}/ns/user")
            with open(pidfile) as handle:
                assert int(handle.read()) != other.pid
        finally:
            other.kill()
            other.wait()
