"""What this runsc can do: its subcommands (:func:`summarize`) and which
gVisor platform works on this host (:func:`platform`).

runsc has no OCI ``features`` command (``runsc features`` is an unknown
subcommand, exit 128): what it can do is what ``runsc help`` (the listing
``--help`` prints, but on stdout) names, and ``--version`` says its version
and the OCI spec it implements.  husk's feature probe runs both and caches
the summary by the binary's path, mtime and size, as for runc's.

The platform, kvm or ptrace, is found by a trial run.

/dev/kvm being there and opening proves little: under a nested hypervisor
(a PVM guest, say) it opens, and a KVM sandbox then hangs for good.  So the
probe runs `runsc --platform=kvm do true` in a throwaway root, with a
deadline, and falls back to ptrace when that does not exit 0.  The answer is
cached host-wide in husk's host directory in /run (``husk.define.HOST_DIR``;
tmpfs: a reboot, a new kernel, probes again), keyed
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

from husk.define import HOST_DIR

CACHE = os.path.join(HOST_DIR, "runsc-platform.json")
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
    from husk.state.atomic import replace_file

    try:
        replace_file(CACHE, json.dumps({"key": key, "platform": chosen}), make_parent=True)
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


#: what husk runs for runsc's features (see husk.engine.runtime_features.probe)
FEATURE_ARGUMENTS = ("help", "--version")


def summarize(help_output: str, version_output: str) -> dict:
    """runsc's features as `husk info` shows them: Subcommands (the main
    section of `runsc help`, not its debug, helper or internal ones),
    Checkpoint (checkpoint and restore both there), Update, OCIVersion (the
    ``spec:`` line of ``--version``).  What runsc did not say is left out."""
    subcommands: list[str] = []
    in_section = False
    for line in help_output.splitlines():
        if line.strip() == "Subcommands:":
            in_section = True
        elif in_section and line.startswith("\t") and line.split():
            subcommands.append(line.split()[0])
        elif in_section and subcommands:
            break
    summary: dict = {"Source": "help"}
    if subcommands:
        summary.update(Subcommands=subcommands, Update="update" in subcommands,
                       Checkpoint="checkpoint" in subcommands and "restore" in subcommands)
    spec = [line.split(":", 1)[1].strip() for line in version_output.splitlines() if line.startswith("spec:")]
    if spec:
        summary["OCIVersion"] = spec[0]
    return summary
