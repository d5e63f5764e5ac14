"""A pod's own cgroup: the parent of its containers' cgroups, holding the limits
they share (`pod create --memory`, `--cpus`) under `--cgroup-parent`.

Only pods made with one of those flags have one (the others' containers are
placed as any container is).  Its path is absolute (`/PARENT/POD-ID`, the
parent `husk_pods` by default), so runc and crun, which read a relative
cgroups path differently, put the containers in the same place.  The limits
are written before each of the pod's containers is created (the runtime makes
the container's cgroup inside, and leaves the pod's own alone); `pod rm`
removes the directories once the containers are gone.  cgroup v1 (one
hierarchy per controller) and v2 (one unified tree, whose ancestors must
delegate the memory and cpu controllers) are both handled.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .resources import CPU_PERIOD

if TYPE_CHECKING:
    from ..state.records import PodRecord

CGROUP_ROOT = "/sys/fs/cgroup"
DEFAULT_PARENT = "husk_pods"


def wanted(record: "PodRecord") -> bool:
    return bool(record.cgroup_parent or record.memory or record.nano_cpus)


def path(record: "PodRecord") -> str:
    """The pod's cgroup path (what its containers' `--cgroup-parent` is)."""
    return f"/{(record.cgroup_parent or DEFAULT_PARENT).strip('/')}/{record.id}"


def _unified() -> bool:
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def ensure(record: "PodRecord") -> None:
    """Make the pod's cgroup and write its limits (again: cheap, and idempotent)."""
    if not wanted(record):
        return
    relative = path(record).lstrip("/")
    quota = str(record.nano_cpus * CPU_PERIOD // 1_000_000_000) if record.nano_cpus else ""
    if _unified():
        directory = os.path.join(CGROUP_ROOT, relative)
        ancestors = [CGROUP_ROOT]
        for part in relative.split("/")[:-1]:
            ancestors.append(os.path.join(ancestors[-1], part))
        os.makedirs(directory, exist_ok=True)
        for ancestor in ancestors:  # delegate the controllers down to the pod's cgroup
            _write(os.path.join(ancestor, "cgroup.subtree_control"), "+memory +cpu", missing_ok=True)
        files = {"memory.max": str(record.memory) if record.memory else "max",
                 "cpu.max": f"{quota or 'max'} {CPU_PERIOD}"}
        for name, value in files.items():
            _write(os.path.join(directory, name), value)
        return
    for controller, files in (("memory", {"memory.limit_in_bytes": str(record.memory or -1)}),
                              ("cpu", {"cpu.cfs_period_us": str(CPU_PERIOD), "cpu.cfs_quota_us": quota or "-1"})):
        directory = os.path.join(CGROUP_ROOT, controller, relative)
        os.makedirs(directory, exist_ok=True)
        for name, value in files.items():
            _write(os.path.join(directory, name), value)


def remove(record: "PodRecord") -> None:
    """Remove the pod's cgroup directories (in every v1 hierarchy the runtimes made it in)."""
    if not wanted(record):
        return
    relative = path(record).lstrip("/")
    roots = [CGROUP_ROOT] if _unified() else [os.path.join(CGROUP_ROOT, name) for name in os.listdir(CGROUP_ROOT)]
    for root in roots:
        try:
            os.rmdir(os.path.join(root, relative))
        except OSError:
            pass  # not made in that hierarchy, or (a process left in it) not removable


def _write(file: str, value: str, missing_ok: bool = False) -> None:
    from ..define import HuskError

    try:
        with open(file, "w", encoding="ascii") as handle:
            handle.write(value)
    except FileNotFoundError:
        if not missing_ok:
            raise HuskError(f"cannot set the pod's cgroup limit {os.path.basename(file)}: {file} is missing") from None
    except OSError as exc:
        if not missing_ok:
            raise HuskError(f"cannot set the pod's cgroup limit {os.path.basename(file)}: {exc.strerror}") from None
