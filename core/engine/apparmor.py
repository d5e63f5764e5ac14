"""podman's default AppArmor profile, generated, and loaded where the kernel has AppArmor.

podman confines every container it starts (not privileged, no
`apparmor=unconfined`) with a profile named ``containers-default-VERSION``
(0.50.1 for podman 4.3), which it writes from a template and loads with
`apparmor_parser -Kr` the first time it is missing from the kernel.  husk
generates the same rules under the same name and loads them the same way.

The machines husk is developed on have no AppArmor in their kernel: there the
profile is only checked by `apparmor_parser -Q` (parse, do not load) in the
tests, and containers run unconfined, as podman's do on such a kernel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from ..define import InvalidArgument

DEFAULT_PROFILE = "containers-default-0.50.1"

#: the rules, one a line: everything a container needs is allowed (network,
#: capabilities the runtime grants, files), then what would reach the host is
#: denied: writes under /proc outside a process's own entries and
#: /proc/sys/kernel/shm*, sysrq and kcore, mounting, /sys outside the cgroup tree,
#: firmware and the security filesystem
_RULES = (
    "network,",
    "capability,",
    "file,",
    "umount,",
    "signal (receive) peer=unconfined,",
    "signal (send,receive) peer={name},",
    "deny @{{PROC}}/* w,",
    "deny @{{PROC}}/{{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9]*}}/** w,",
    "deny @{{PROC}}/sys/[^k]** w,",
    "deny @{{PROC}}/sys/kernel/{{?,??,[^s][^h][^m]**}} w,",
    "deny @{{PROC}}/sysrq-trigger rwklx,",
    "deny @{{PROC}}/kcore rwklx,",
    "deny mount,",
    "deny /sys/[^f]*/** wklx,",
    "deny /sys/f[^s]*/** wklx,",
    "deny /sys/fs/[^c]*/** wklx,",
    "deny /sys/fs/c[^g]*/** wklx,",
    "deny /sys/fs/cg[^r]*/** wklx,",
    "deny /sys/firmware/** rwklx,",
    "deny /sys/kernel/security/** rwklx,",
    "ptrace (trace,read,tracedby,readby) peer={name},",
)


def profile_text(name: str = DEFAULT_PROFILE) -> str:
    """The default profile as apparmor_parser reads it."""
    rules = "".join(f"  {rule.format(name=name)}\n" for rule in _RULES)
    return ("#include <tunables/global>\n\n"
            f"profile {name} flags=(attach_disconnected,mediate_deleted) {{\n"
            "  #include <abstractions/base>\n\n"
            f"{rules}}}\n")


def ensure_loaded(name: str = DEFAULT_PROFILE) -> None:
    """Load the default profile into the kernel unless it is there already.

    :raises InvalidArgument: apparmor_parser is missing or refuses the profile.
    """
    try:
        with open("/sys/kernel/security/apparmor/profiles") as file:
            if any(line.split(" ", 1)[0] == name for line in file):
                return
    except OSError:
        pass
    parser = shutil.which("apparmor_parser")
    if parser is None:
        raise InvalidArgument("AppArmor is enabled but apparmor_parser is missing: install Debian's apparmor package")
    with tempfile.NamedTemporaryFile("w", prefix="husk-apparmor-", suffix=".profile") as file:
        file.write(profile_text(name))
        file.flush()
        result = subprocess.run([parser, "-Kr", file.name], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise InvalidArgument(f"loading AppArmor profile {name}: {last}")


def parse_only(text: str) -> subprocess.CompletedProcess:
    """`apparmor_parser -Q` on `text`: parse, load nothing (what the tests can do here)."""
    with tempfile.NamedTemporaryFile("w", prefix="husk-apparmor-", suffix=".profile") as file:
        file.write(text)
        file.flush()
        return subprocess.run(["apparmor_parser", "-Q", "-K", file.name], capture_output=True, text=True,
                              env={**os.environ, "LANG": "C"})
