"""Container capabilities: podman's default set, the names the kernel knows,
and the bounding set a container gets from --cap-add, --cap-drop and
--privileged.

Apart from the spec generator (husk.engine.spec, which re-exports these names
for plugins) because create checks the flags with them: importing the generator
cost every create about 1 ms (issue 20).
"""

from __future__ import annotations

import functools

from ..define import InvalidArgument

#: podman's default capability set (CapEff 00000000800405fb)
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
    "CAP_SETUID", "CAP_SYS_CHROOT",
)

#: capability names by number (linux/capability.h); numbers past the end are
#: capabilities newer than this table, which the runtimes would not know either
CAPABILITY_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
    "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
    "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
    "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
_KNOWN_CAPABILITIES = frozenset("CAP_" + name for name in CAPABILITY_NAMES)


def capability_set(cap_add: list[str], cap_drop: list[str], *, privileged: bool,
                   base: tuple[str, ...] | None = None) -> list[str]:
    """The bounding set: podman's defaults (or every capability for a privileged
    container) plus `cap_add` minus `cap_drop`.

    Names are accepted with or without ``CAP_``, in any case; ``ALL`` means every
    capability husk can grant.
    :param base: the starting set instead of the default.
    :raises InvalidArgument: an unknown name, one both added and dropped, one
        outside husk's own bounding set.
    """
    added = [_cap_name(name) for name in cap_add]
    dropped = [_cap_name(name) for name in cap_drop]
    both = set(added) & set(dropped)
    if "ALL" in both:
        raise InvalidArgument("adding all caps and removing all caps not allowed")
    if both:
        raise InvalidArgument(f'capability "{sorted(both)[0]}" cannot be dropped and added')
    if base is None:
        base = all_capabilities() if privileged else DEFAULT_CAPABILITIES
    if "ALL" in dropped:
        base = ()
    if "ALL" in added:
        base, added = all_capabilities(), [name for name in added if name != "ALL"]
    held = all_capabilities() if added else ()
    for name in added:
        if name not in held:  # the runtime would fail with a bare EPERM from capset
            raise InvalidArgument(f'capability "{name}" cannot be granted: husk itself does not hold it')
    result = list(dict.fromkeys([*base, *added]))
    return [name for name in result if name not in dropped]


def _cap_name(name: str) -> str:
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in _KNOWN_CAPABILITIES:
        raise InvalidArgument(f'"{upper}": unknown capability')
    return upper


@functools.cache
def all_capabilities() -> tuple[str, ...]:
    """Every capability of the running kernel that husk holds in its bounding set.

    A runtime cannot grant a capability its caller lacks, so asking for one
    outside husk's own bounding set would make every privileged container fail.
    """
    with open("/proc/sys/kernel/cap_last_cap") as file:
        last = int(file.read())
    bounding = -1
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("CapBnd:"):
                bounding = int(line.split()[1], 16)
                break
    return tuple("CAP_" + CAPABILITY_NAMES[number]
                 for number in range(min(last, len(CAPABILITY_NAMES) - 1) + 1)
                 if bounding >> number & 1)
