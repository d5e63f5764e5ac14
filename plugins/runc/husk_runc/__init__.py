"""runc, the reference OCI runtime, as a husk backend.

runc speaks the shared OCI CLI; what it adds is checkpoint/restore through CRIU,
which husk probes (runc has the subcommand; CRIU must be installed to use it).
"""

import shutil

from husk.hooks import hookimpl
from husk.engine.oci_runtime import OCIRuntime, probe_binary


class Runc(OCIRuntime):
    name = "runc"
    binary = "runc"
    checkpoint_deletes = True  # runc checkpoint destroys the container unless --leave-running

    @property
    def supports_checkpoint(self) -> bool:  # type: ignore[override]
        return shutil.which("criu") is not None


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(Runc.binary):
        register(Runc.name, Runc)
