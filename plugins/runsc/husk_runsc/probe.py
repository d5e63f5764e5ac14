"""Which gVisor platform works on this host: kvm or ptrace, by a trial run.

/dev/kvm being there and opening proves little: under a nested hypervisor
(a PVM guest, say) it opens, and a KVM sandbox then hangs for good.  So the
probe runs `runsc --platform=kvm do true` in a throwaway root, with a
deadline, and falls back to ptrace when that does not exit 0.  The answer is
cached host-wide in /run (tmpfs: a reboot, a new kernel, probes again), keyed
by the runsc binary's path, mtime and size, so the trial costs its seconds
once per boot and runsc, not per husk run root.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import tempfile

CACHE = "/run/husk/runsc-platform.json"
#: a KVM sandbox that works runs `true` in well under a second
TRIAL_SECONDS = 10


@functools.cache
def platform(binary: str) -> str:
    """"kvm" when a KVM sandbox runs here, else "ptrace"."""
    try:
        stat = os.stat(binary)
    except OSError:
        return "ptrace"
    key = {"path": binary, "mtime_ns": stat.st_mtime_ns, "size": stat.st_size}
    try:
        with open(CACHE) as handle:
            cached = json.load(handle)
        if cached.get("key") == key and cached.get("platform") in ("kvm", "ptrace"):
            return cached["platform"]
    except (OSError, ValueError, AttributeError):
        pass
    chosen = "kvm" if _kvm_runs(binary) else "ptrace"
    try:
        os.makedirs(os.path.dirname(CACHE), mode=0o700, exist_ok=True)
        temporary = f"{CACHE}.{os.getpid()}.tmp"
        with open(temporary, "w") as handle:
            json.dump({"key": key, "platform": chosen}, handle)
        os.replace(temporary, CACHE)
    except OSError:
        pass  # unwritable /run: probe again next time
    return chosen


def _kvm_runs(binary: str) -> bool:
    """Whether `runsc --platform=kvm do true` exits 0 within TRIAL_SECONDS.
    It runs in its own session so that a hung sandbox is killed whole."""
    try:
        with open("/dev/kvm", "rb+", buffering=0):
            pass
    except OSError:
        return False
    with tempfile.TemporaryDirectory(prefix="husk-runsc-probe-") as root:
        try:
            proc = subprocess.Popen([binary, "--root", root, "--platform=kvm", "--network=none", "do", "true"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError:
            return False
        try:
            return proc.wait(TRIAL_SECONDS) == 0
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return False
