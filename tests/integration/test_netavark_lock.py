"""The host-wide netavark lock is held for as long as netavark runs, not only
as long as the husk that started it: a CLI killed during `netavark setup` let a
teardown run beside the orphaned setup, which then added the network's firewall
rules after the teardown had removed them (CI's test_crash, CLI killed 0.25 s
into `run`).  And it is not held by what netavark leaves running (aardvark-dns)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("husk_netavark", reason="the netavark plugin is not installed")


def _locked(path: str) -> bool:
    return subprocess.run(["flock", "-n", path, "true"]).returncode != 0


def test_the_lock_lives_as_long_as_netavark_and_no_longer(tmp_path):
    started, daemon = tmp_path / "started", tmp_path / "daemon.pid"
    stand_in = tmp_path / "netavark"  # starts a daemon as netavark starts aardvark-dns
    stand_in.write_text(f"#!/bin/sh\nsleep 60 </dev/null >/dev/null 2>&1 &\necho $! > {daemon}\n"
                        f"touch {started}\nsleep 2\necho '{{}}'\n")
    stand_in.chmod(0o755)
    driver = textwrap.dedent(f"""
        import husk_netavark
        husk_netavark.HOST_LOCK_DIR = {str(tmp_path / 'lock')!r}
        backend = husk_netavark.Netavark({str(tmp_path / 'config')!r})
        backend.binary, backend.aardvark = {str(stand_in)!r}, ""
        backend._run("setup", "/nonexistent", {{}})
    """)
    husk = subprocess.Popen([sys.executable, "-c", driver])
    lock = str(tmp_path / "lock" / "netavark.lock")
    try:
        for _ in range(200):
            if started.exists():
                break
            time.sleep(0.05)
        assert started.exists(), "the stand-in netavark never ran"
        husk.kill()
        husk.wait()
        assert _locked(lock), "the lock went with the killed husk while its netavark still ran"
        # freed when netavark ends, though its daemon lives on
        assert subprocess.run(["flock", "-w", "30", lock, "true"]).returncode == 0
    finally:
        husk.kill()
        if daemon.exists():
            subprocess.run(["kill", daemon.read_text().strip()])
