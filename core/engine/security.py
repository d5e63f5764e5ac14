"""`--security-opt` and `--seccomp-policy`: parsed at create, applied to the spec at init.

The options are podman's (seccomp, apparmor, label, no-new-privileges, mask,
unmask, proc-opts), with its messages for what it refuses.  They are checked
when the container is created, so a bad one creates nothing; the record keeps
them parsed (:class:`husk.state.records.Security`), and :func:`apply` turns
them into the OCI spec at every init.

This host family has neither SELinux nor AppArmor in its kernel: `label=...`
is accepted and has no effect (as podman does without SELinux), and
`apparmor=unconfined` is the only AppArmor value accepted when the kernel has
no AppArmor (podman refuses a named profile with the message used here).
Where the kernel has AppArmor, a container gets podman's default profile
(:mod:`husk.engine.apparmor`) or the one it names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from .config import is_rootless
from ..define import InvalidArgument
from ..state.records import Security

#: podman 4.3's masked and read-only paths (rootful, not privileged), in its order
MASKED_PATHS = (
    "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/fs/selinux", "/sys/dev/block",
)
READONLY_PATHS = (
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
    "/proc/sysrq-trigger",
)


def parse(options: Iterable[str], seccomp_policy: str = "default") -> Security:
    """The record for `--security-opt` values (each ``KEY=VALUE`` or a bare
    ``no-new-privileges``) and `--seccomp-policy`.

    :raises InvalidArgument: an unknown or malformed option, a seccomp profile
        that does not load, a named AppArmor profile on a kernel without AppArmor.
    """
    from . import seccomp  # here, not at the top: inspect's options() needs none of it (0.5 ms)

    if seccomp_policy not in seccomp.POLICIES:
        raise InvalidArgument(f'invalid seccomp policy "{seccomp_policy}": valid policies are ["default" "image"]')
    result = Security(seccomp_policy=seccomp_policy)
    for option in options:
        key, has_value, value = option.partition("=")
        if not has_value and key == "no-new-privileges":
            result.no_new_privileges = True
        elif not has_value:
            raise InvalidArgument(f'invalid --security-opt 1: "{option}"')
        elif key == "no-new-privileges" and value in ("true", "false"):
            result.no_new_privileges = value == "true"
        elif key == "seccomp" and value:
            if value != "unconfined":
                value = os.path.abspath(value)
                seccomp.oci_seccomp(value, [])  # a profile that does not load fails now, not at start
            result.seccomp = value
        elif key == "apparmor" and value:
            if value != "unconfined" and not apparmor_enabled():
                raise InvalidArgument(f'apparmor profile "{value}" specified, but Apparmor is not enabled on this system')
            result.apparmor = value
        elif key == "label" and value:
            result.labels.append(value)
        elif key == "mask" and value:
            result.mask.extend(_paths(value, "mask"))
        elif key == "unmask" and value:
            result.unmask.extend(value.split(":") if value != "ALL" else ["ALL"])
        elif key == "proc-opts" and value:
            result.proc_opts.extend(item for item in value.split(",") if item)
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{option}"')
    return result


def options(security: Security) -> list[str]:
    """The record as `--security-opt` values again (inspect's HostConfig.SecurityOpt)."""
    result = []
    if security.seccomp:
        result.append(f"seccomp={security.seccomp}")
    if security.apparmor:
        result.append(f"apparmor={security.apparmor}")
    result += [f"label={label}" for label in security.labels]
    if security.no_new_privileges:
        result.append("no-new-privileges")
    if security.mask:
        result.append("mask=" + ":".join(security.mask))
    if security.unmask:
        result.append("unmask=" + ":".join(security.unmask))
    if security.proc_opts:
        result.append("proc-opts=" + ",".join(security.proc_opts))
    return result


def relaxed(security: Security) -> list[str]:
    """What `security` gives up of the default confinement, as the options that
    say so: a restored checkpoint archive needs --import-privileged for any."""
    weaker = [option for option in options(security)
              if option.startswith(("seccomp=", "apparmor=", "unmask=", "proc-opts="))]
    return weaker + (["--seccomp-policy=image"] if security.seccomp_policy == "image" else [])


def _paths(value: str, key: str) -> list[str]:
    paths = value.split(":")
    for path in paths:
        if not path.startswith("/"):
            raise InvalidArgument(f'invalid --security-opt {key} path "{path}": must be an absolute path')
    return paths


def apparmor_enabled() -> bool:
    """Whether the running kernel has AppArmor on (what `husk info` reports)."""
    try:
        with open("/sys/module/apparmor/parameters/enabled") as file:
            return file.read().strip() == "Y"
    except OSError:
        return False


def host_document(default_capabilities: Iterable[str]) -> dict[str, Any]:
    """`husk info`'s Host.Security: what confinement this host gives containers
    (podman's host.security, in husk's spelling)."""
    from . import seccomp

    try:
        with open("/proc/self/status") as file:
            seccomp_enabled = any(line.startswith("Seccomp:") for line in file)
    except OSError:
        seccomp_enabled = False
    return {"AppArmorEnabled": apparmor_enabled(), "Capabilities": ",".join(default_capabilities),
            "Rootless": is_rootless(), "SeccompEnabled": seccomp_enabled,
            "SeccompProfilePath": seccomp.DEFAULT_PROFILE, "SELinuxEnabled": False}


def apply(spec: dict[str, Any], security: Security, *, privileged: bool, image_labels: dict[str, str]) -> None:
    """Set the spec's seccomp filter, AppArmor profile, no_new_privs, masked and
    read-only paths and /proc options from `security`, in place.

    The filter is built for the spec's bounding set, so it must be called after
    the capabilities are final.  A privileged container gets no filter and no
    masked paths, as under podman.
    """
    process = spec["process"]
    linux = spec["linux"]
    process["noNewPrivileges"] = security.no_new_privileges
    if not privileged:
        masked = [path for path in MASKED_PATHS if not _unmasked(path, security.unmask)]
        masked += [path for path in security.mask if path not in masked]
        readonly = [path for path in READONLY_PATHS if not _unmasked(path, security.unmask)]
        if masked:
            linux["maskedPaths"] = masked
        if readonly:
            linux["readonlyPaths"] = readonly
    if security.proc_opts:
        for mount in spec["mounts"]:
            if mount["destination"] == "/proc" and mount["type"] == "proc":
                mount["options"] = list(security.proc_opts)
    if not privileged and security.apparmor != "unconfined" and apparmor_enabled():
        from . import apparmor

        if not security.apparmor:
            apparmor.ensure_loaded()
        process["apparmorProfile"] = security.apparmor or apparmor.DEFAULT_PROFILE
    profile = seccomp_profile(security, privileged=privileged, image_labels=image_labels,
                              capabilities=process["capabilities"]["bounding"])
    if profile is not None:
        linux["seccomp"] = profile


def seccomp_profile(security: Security, *, privileged: bool, image_labels: dict[str, str],
                    capabilities: list[str]) -> dict[str, Any] | None:
    """The container's seccomp filter, or None for none (privileged, unconfined).

    With policy ``image`` an image's ``io.containers.seccomp.profile`` label
    wins; otherwise the profile named by `seccomp=PATH`, else podman's default.
    """
    from . import seccomp

    if privileged or security.seccomp == "unconfined":
        return None
    if security.seccomp_policy == "image" and image_labels.get(seccomp.IMAGE_LABEL):
        return seccomp.oci_seccomp(f"image label {seccomp.IMAGE_LABEL}", capabilities,
                                   text=image_labels[seccomp.IMAGE_LABEL])
    return seccomp.oci_seccomp(security.seccomp or seccomp.DEFAULT_PROFILE, capabilities)


def _unmasked(path: str, patterns: list[str]) -> bool:
    return any(pattern == "ALL" or _match(pattern, path) for pattern in patterns)


def _match(pattern: str, path: str) -> bool:
    """Go's filepath.Match, as podman matches unmask patterns: a wildcard never
    crosses a ``/`` (``/sys/*`` unmasks /sys/firmware, not /sys/fs/selinux)."""
    import fnmatch  # only with unmask=: it imports re

    wanted, parts = pattern.split("/"), path.split("/")
    return len(wanted) == len(parts) and all(map(fnmatch.fnmatchcase, parts, wanted))
