"""Issue 12's leftover verb flags on real runtimes: `container cleanup --exec`."""

from __future__ import annotations

import os
import time

IMAGE = "busybox"


def test_cleanup_exec_forgets_an_ended_session_and_refuses_a_running_one(husk_rt):
    husk_rt("run", "-d", "--name", "c", IMAGE, "sleep", "1000", check=True)
    session = husk_rt("exec", "-d", "c", "sh", "-c", "while [ ! -e /go ]; do sleep 0.1; done", check=True).stdout.strip()
    running = husk_rt("container", "cleanup", "--exec", session, "c")
    assert running.returncode == 125
    assert running.stderr == (f"Error: cannot clean up exec session {session} as it is running: "
                              "container state improper\n")
    container_id = husk_rt("inspect", "-f", "{{.Id}}", "c", check=True).stdout.strip()
    files = os.path.join(husk_rt.runroot, "containers", container_id, "exec", session)
    assert os.path.isdir(files)
    merged = husk_rt("mount", "c", check=True).stdout.strip()
    open(os.path.join(merged, "go"), "w").close()
    deadline = time.monotonic() + 90
    while True:
        done = husk_rt("container", "cleanup", "--exec", session, "c")
        if done.returncode == 0 or "as it is running" not in done.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (done.returncode, done.stdout.strip()) == (0, container_id)
    assert husk_rt("inspect", "-f", "{{len .ExecIDs}}", "c", check=True).stdout.strip() == "0"
    assert not os.path.exists(files)
    gone = husk_rt("container", "cleanup", "--exec", session, "c")
    assert gone.returncode == 125 and f"no exec session with ID {session} found" in gone.stderr
    both = husk_rt("container", "cleanup", "--exec", session, "--all")
    assert both.returncode == 125 and "--exec cleans up one container's session" in both.stderr
    husk_rt("umount", "c", check=True)
    husk_rt("rm", "-f", "-t", "0", "c", check=True)
