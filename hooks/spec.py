"""Hook specifications: one per lifecycle transition, plus backend registration.

The core calls each lifecycle hook at its transition, with the container lock
held.  The ``container`` argument is the public :class:`husk.engine.container.Container`;
plugins may read it (``container.id``, ``container.name``, ``container.config``,
``container.state``) but change the container only through its methods outside
a hook.  An exception raised by a hook is reported as a PluginFailure naming the
plugin; the core rolls the transition back where it can and keeps the stored
state consistent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from . import hookspec

if TYPE_CHECKING:
    from husk.engine.config import Config
    from husk.engine.container import Container
    from husk.engine.oci_runtime import OCIRuntime
    from husk.network.backend import NetworkBackend
    from husk.volumes.driver import VolumeDriver


@hookspec
def husk_register_runtimes(register: Callable[[str, "type[OCIRuntime]"], None], config: "Config") -> None:
    """Register OCI runtime backends.

    Called once when the plugin manager is set up.  Call
    ``register(name, backend_class)`` for each backend; ``name`` is what users
    pass to ``--runtime``.  ``backend_class`` subclasses
    :class:`husk.engine.oci_runtime.OCIRuntime`.  ``config`` is husk's
    configuration, read-only: ``config.plugin_settings(NAME)`` is the plugin's
    own ``[plugins.NAME]`` table of husk.conf (runtimes named there, say).  An
    implementation may leave ``config`` out of its signature.  The return
    value is ignored.
    """


@hookspec
def husk_register_network_backends(register: Callable[[str, "type[NetworkBackend]"], None]) -> None:
    """Register network backends (what connects a container's network namespace
    to its networks; see husk.network.backend).

    Called the first time husk needs a backend.  Call ``register(name,
    backend_class)`` for each; ``backend_class`` subclasses
    :class:`husk.network.backend.NetworkBackend`, and ``name`` is what husk.conf's
    ``[network] backend`` selects.  The return value is ignored.
    """


@hookspec
def husk_register_volume_drivers(register: Callable[[str, "type[VolumeDriver]"], None]) -> None:
    """Register volume drivers.

    Called the first time husk needs a volume driver.  Call
    ``register(name, driver_class)`` for each driver; ``name`` is what users
    pass to ``volume create --driver``.  ``driver_class`` subclasses
    :class:`husk.volumes.driver.VolumeDriver`.  husk's own ``local`` driver is
    registered through this hook too.  The return value is ignored.
    """


@hookspec
def husk_pre_init(container: "Container", spec: dict[str, Any]) -> None:
    """Called before the container is created in the OCI runtime.

    :param container: the container being initialised.
    :param spec: the generated OCI runtime spec (``config.json``) as a dict;
        edit it in place and the edit is what the runtime receives.
    Raising aborts the init; the container stays in its previous state.
    """


@hookspec
def husk_start(container: "Container") -> None:
    """Called after the container's process has been started by the runtime.

    ``container.state.pid`` is the process id on the host.  The return value is
    ignored.  Raising is reported, but the container keeps running.
    """


@hookspec
def husk_stop(container: "Container", timeout: int) -> None:
    """Called before husk stops a created or running container.

    :param timeout: seconds between the stop signal and SIGKILL (0: SIGKILL at once).
    Raising aborts the stop; the container keeps running.
    """


@hookspec
def husk_exec_session(container: "Container", session_id: str, command: list[str]) -> None:
    """Called when an exec session has started in a running container.

    :param session_id: the session's id, as ``exec`` reports it.
    :param command: the command line being executed.
    """


@hookspec
def husk_attach(container: "Container") -> None:
    """Called when a client attaches to a created or running container."""


@hookspec(firstresult=True)
def husk_checkpoint(container: "Container", options: dict[str, Any]) -> bool | None:
    """Checkpoint a running container (the feature plugin does the work).

    :param options: the seed's ContainerCheckpointOptions as a dict (``keep``,
        ``keep_running``, ``tcp_established``, ``target_file``, ``ignore_rootfs``, ...).
    Return True when done; the first non-None result stops the call.  With no
    plugin answering, husk tells the user which package to install.
    """


@hookspec(firstresult=True)
def husk_restore(container: "Container | None", options: dict[str, Any]) -> "bool | Container | None":
    """Restore a checkpointed container; same protocol as :func:`husk_checkpoint`.

    :param container: the container to restore, locked, its rootfs mounted and
        its bundle written; or None for an import (``restore --import``), where
        the plugin makes a new container from the archive ``options["target_file"]``
        with :meth:`husk.Runtime.adopt_container` (``options["runtime"]`` is the
        Runtime) and returns it instead of True.
    :param options: the seed's ContainerRestoreOptions as a dict (``keep``,
        ``tcp_established``, ``name``, ``ignore_rootfs``, ...).
    """


@hookspec
def husk_cleanup(container: "Container") -> None:
    """Called when husk cleans up a stopped container (after it exited, or on rm).

    The rootfs is still mounted when this runs.  Raising is reported; the
    cleanup goes on so that no mount or runtime state leaks.
    """
