"""gVisor's runsc (a kernel in user space) as a husk backend.

runsc speaks the OCI command line, so the shared base class does the work;
what differs, each measured with Debian 12's runsc 0.0~20221219:

- **Platform.**  How the sandbox traps the container's system calls: KVM
  where /dev/kvm really works, else ptrace.  Chosen by a trial run, never
  assumed (see :mod:`husk_runsc.probe`): on a nested hypervisor /dev/kvm
  opens but a KVM sandbox never starts.
- **Network.**  runsc's own network stack ("sandbox") refuses to start on this
  build even in a fresh network namespace ("cannot run with network enabled
  in root network namespace").  So husk runs runsc with ``--network=host``:
  the sandbox uses the kernel's sockets *of the namespace husk gave it*, so
  bridge (netavark's veth and address), ``--network none`` (only lo) and
  ``--network host`` all mean what they mean with runc.
- **Refused:** ``update`` (runsc has no such subcommand), ``exec
  --preserve-fds`` (its exec has no such flag), checkpoint and restore
  (:attr:`Runsc.checkpoint_refusal`).  Each is one line and exit 125.
- **Created, never started:** runsc will not signal it; :meth:`Runsc.kill`
  destroys the sandbox instead.
"""

from __future__ import annotations

from typing import Any

from husk.define import InvalidArgument, RuntimeFailure
from husk.engine.oci_runtime import OCIRuntime, probe_binary
from husk.hooks import hookimpl

from .probe import platform


class Runsc(OCIRuntime):
    name = "runsc"
    binary = "runsc"

    #: why husk's checkpoint verbs refuse runsc (husk-criu shows it)
    checkpoint_refusal = ("runsc writes its own image format, not the CRIU images husk restores, and refuses to "
                          "checkpoint a sandbox on the host's network stack, the only one this runsc starts with")

    def global_args(self) -> list[str]:
        return [*super().global_args(), f"--platform={platform(self.path)}", "--network=host"]

    def describe(self) -> dict[str, Any]:
        """`husk info` shows the probed platform and the network mode too."""
        return {**super().describe(), "Platform": platform(self.path), "Network": "host (in husk's namespace)"}

    def exec_command(self, container_id: str, process_file: str, pid_file: str, log_file: str,
                     preserve_fds: int = 0) -> list[str]:
        if preserve_fds:
            raise InvalidArgument("runsc cannot pass file descriptors into an exec session (--preserve-fds)")
        return super().exec_command(container_id, process_file, pid_file, log_file)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        raise InvalidArgument("runsc cannot change a running container's resources (it has no update command)")

    def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        """runsc refuses to signal a container that was created and never
        started ("cannot signal container ... in state created"), where runc
        kills its waiting init.  Its process never ran, so any signal ends
        it: husk destroys the sandbox instead (stop and rm -f then work)."""
        try:
            super().kill(container_id, signal, all_processes)
        except RuntimeFailure as exc:
            if "in state created" not in str(exc):
                raise
            super().delete(container_id, force=True)

    def delete(self, container_id: str, force: bool = False) -> None:
        """runsc's delete asks the sandbox to stop its container and gives up
        after 5 s when the sandbox is exiting already ("context deadline
        exceeded"), though the sandbox then goes away.  That is a success
        when runsc no longer knows the container; else it is retried once."""
        try:
            super().delete(container_id, force)
        except RuntimeFailure as exc:
            if "deadline exceeded" not in str(exc):
                raise
            if self.state(container_id) is not None:
                super().delete(container_id, force=True)


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(Runsc.binary):
        register(Runsc.name, Runsc)
