"""crun, the fast C OCI runtime, as a husk backend.

crun speaks the shared OCI CLI.  It differs in that it needs the cgroupfs
manager named explicitly when systemd is not its parent, and in that its
checkpoint support depends on its build (`crun --version` lists `+CRIU`).
"""

import functools
import subprocess

from husk.hooks import hookimpl
from husk.oci_runtime import OCIRuntime, probe_binary


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


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(Crun.binary):
        register(Crun.name, Crun)
