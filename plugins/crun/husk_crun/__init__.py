"""crun, the fast C OCI runtime, as a husk backend.

crun speaks the shared OCI CLI.  It differs in that it needs the cgroupfs
manager named explicitly when systemd is not its parent, in that its
checkpoint support depends on its build (`crun --version` lists `+CRIU`), and
in that its `update` cannot lift a pids limit (see :meth:`Crun.update`).
"""

import functools
import os
import subprocess

from husk.hooks import hookimpl
from husk.engine.oci_runtime import OCIRuntime, probe_binary


class Crun(OCIRuntime):
    name = "crun"
    binary = "crun"

    def global_args(self) -> list[str]:
        return [*super().global_args(), "--cgroup-manager", "cgroupfs"]

    @functools.cached_property
    def supports_checkpoint(self) -> bool:  # type: ignore[override]
        try:
            out = subprocess.run([self.path, "--version"], capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return False
        return "+CRIU" in out


    def update(self, container_id: str, resources: dict) -> None:
        """crun 1.8 writes a v1 pids.max or cpu.cfs_quota_us of -1 (no limit)
        unsigned, which the kernel refuses.  So no limit is said with values
        that limit nothing: the kernel's largest pid count (PID_MAX_LIMIT; no
        more pids can exist) and a quota of every CPU of the host."""
        pids, cpu = resources.get("pids"), resources.get("cpu")
        if pids and pids.get("limit", 0) < 0:
            resources = {**resources, "pids": {**pids, "limit": PID_MAX_LIMIT}}
        if cpu and cpu.get("quota", 0) < 0 and cpu.get("period"):
            resources = {**resources, "cpu": {**cpu, "quota": cpu["period"] * (os.cpu_count() or 1)}}
        super().update(container_id, resources)


#: the most pids a Linux system can have (include/linux/threads.h, 64-bit)
PID_MAX_LIMIT = 4 * 1024 * 1024


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(Crun.binary):
        register(Crun.name, Crun)
