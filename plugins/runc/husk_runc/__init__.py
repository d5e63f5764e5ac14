"""runc, the reference OCI runtime, as a husk backend.

runc speaks the shared OCI CLI; what it adds is checkpoint/restore through CRIU,
which husk probes (runc has the subcommand; CRIU must be installed to use it).
"""

import contextlib
import shutil

from husk.define import HuskError
from husk.faults import fault
from husk.hooks import hookimpl
from husk.engine.oci_runtime import OCIRuntime, probe_binary


class Runc(OCIRuntime):
    name = "runc"
    binary = "runc"
    checkpoint_deletes = True  # runc checkpoint destroys the container unless --leave-running

    @property
    def supports_checkpoint(self) -> bool:  # type: ignore[override]
        return shutil.which("criu") is not None

    def checkpoint(self, container_id: str, image_path: str, work_path: str, flags: list[str]) -> None:
        """Freeze the container with `runc pause` first: CRIU freezes a
        running one itself, but checks its freezer every 100 ms, so a dump
        always waited about 100 ms for the freeze; runc's freeze spins and
        takes a few.  CRIU leaves a cgroup it found frozen frozen, so a
        container that goes on running (--leave-running, --pre-dump), or one
        whose dump failed, is resumed afterwards; one dumped for good is
        killed and deleted by runc, frozen or not.  A CLI killed before the
        resume leaves the engine's checkpoint marker, and the next command
        resumes the container (husk.engine.lifecycle.release_interrupted_checkpoint)."""
        self.pause(container_id)
        going_on = "--leave-running" in flags or "--pre-dump" in flags
        try:
            fault("checkpoint.pause.after")
            super().checkpoint(container_id, image_path, work_path, flags)
        except BaseException:
            with contextlib.suppress(HuskError):
                self.resume(container_id)
            raise
        if going_on:
            self.resume(container_id)


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(Runc.binary):
        register(Runc.name, Runc)
