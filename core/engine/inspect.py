"""podman's `inspect` document for a container, built from husk's records.

The shape and the key names follow `podman container inspect` so that scripts
and `--format` strings written for podman work unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..define import State
from ..formats.signals import parse_signal
from ..formats.timestamps import go_time
from . import health, security, userns
from .networking import network_settings
from .volume_mounts import mount_document

if TYPE_CHECKING:
    from .container import Container


def inspect_container(container: "Container") -> dict[str, Any]:
    config, st = container.config, container.state
    paths = container.runtime.paths
    image = _image(container)
    command = config.command or (image.config.cmd if image and not config.entrypoint else [])
    entrypoint = config.entrypoint or (image.config.entrypoint if image else [])
    running = st.state is State.RUNNING
    return {
        "Id": config.id,
        "Created": go_time(config.created),
        "Path": (entrypoint + command)[0] if entrypoint + command else "",
        "Args": (entrypoint + command)[1:],
        "State": {
            "OciVersion": "1.0.2",
            "Status": st.shown(),
            "Running": running,
            "Paused": st.state is State.PAUSED,
            "Restarting": False,
            "OOMKilled": st.oom_killed,
            "Dead": False,
            "Pid": st.pid if st.state in (State.RUNNING, State.PAUSED, State.CREATED) else 0,
            "ConmonPid": st.monitor_pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": go_time(st.started_at),
            "FinishedAt": go_time(st.finished_at),
            "Health": health.state_document(st.health),
            "Checkpointed": st.checkpointed,
            "CheckpointedAt": go_time(st.checkpointed_at),
            "RestoredAt": go_time(st.restored_at),
            "CheckpointLog": st.checkpoint_log,
            "CheckpointPath": st.checkpoint_path,
            "RestoreLog": st.restore_log,
            "Restored": st.restored,
        },
        "Image": config.image_id,
        "ImageName": config.image_ref or config.image_name,
        "Rootfs": "",
        "ResolvConfPath": f"{paths.userdata(config.id)}/resolv.conf",
        "HostnamePath": f"{paths.userdata(config.id)}/hostname",
        "HostsPath": f"{paths.userdata(config.id)}/hosts",
        "StaticDir": paths.userdata(config.id),
        "OCIConfigPath": f"{paths.userdata(config.id)}/config.json",
        "OCIRuntime": config.runtime,
        "ConmonPidFile": "",
        "PidFile": paths.pid_file(config.id),
        "Name": config.name,
        "RestartCount": st.restart_count,
        "Driver": "overlay",
        "MountLabel": "",
        "ProcessLabel": "",
        "EffectiveCaps": None,
        "BoundingCaps": None,
        "ExecIDs": sorted(st.exec_sessions),
        "GraphDriver": {"Name": "overlay", "Data": {
            "UpperDir": f"{paths.container_dir(config.id)}/upper",
            "WorkDir": f"{paths.container_dir(config.id)}/work",
            "MergedDir": st.mountpoint or None}},
        "Mounts": [mount_document(container.runtime, m) for m in config.mounts],
        "NetworkSettings": network_settings(container),
        "Dependencies": list(config.dependencies),
        "Pod": config.pod,
        "IsInfra": _is_infra(container),
        "Config": {
            "Hostname": config.hostname or config.id[:12],
            "Domainname": "",
            "User": config.user or (image.config.user if image else ""),
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": config.tty,
            "OpenStdin": config.stdin_open,
            "StdinOnce": False,
            "Env": _process_env(container, image),
            "Cmd": command or None,
            "Image": config.image_name,
            "Volumes": None,
            "WorkingDir": config.workdir or (image.config.workdir if image else "") or "/",
            "Entrypoint": " ".join(entrypoint),
            "OnBuild": None,
            "Labels": dict(config.labels) or None,
            "Annotations": dict(config.annotations),
            "StopSignal": int(parse_signal(config.stop_signal or "SIGTERM")),  # podman 4.3: the number
            "StopTimeout": config.stop_timeout,
            **({"Healthcheck": health.config_document(config.healthcheck),
                "HealthcheckOnFailureAction": config.healthcheck.on_failure} if config.healthcheck else {}),
            "CreateCommand": None,
        },
        "HostConfig": {
            "Binds": [f"{m.source}:{m.destination}" + (f":{','.join(m.options)}" if m.options else "")
                      for m in config.mounts if m.type in ("bind", "volume")],
            "NetworkMode": config.network,
            "RestartPolicy": {"Name": config.restart_policy.name,
                              "MaximumRetryCount": config.restart_policy.max_retries},
            "AutoRemove": config.auto_remove,
            "LogConfig": {"Type": config.log_driver, "Config": None,
                          "Path": config.run_options.log_path or paths.log_path(config.id),
                          "Tag": config.run_options.log_tag, "Size": "0B"},
            "ReadonlyRootfs": config.read_only,
            "Privileged": config.privileged,
            "CapAdd": list(config.cap_add),
            "CapDrop": list(config.cap_drop),
            "SecurityOpt": security.options(config.security),
            "Tmpfs": {m.destination: ",".join(m.options) for m in config.mounts if m.type == "tmpfs"},
            "Runtime": "oci",
            "Memory": config.resources.memory,
            "NanoCpus": config.resources.nano_cpus,
            "CpuShares": config.resources.cpu_shares,
            "PidsLimit": config.resources.pids_limit,
            **userns.inspect_fields(config.run_options),
        },
    }


def _is_infra(container: "Container") -> bool:
    """Only a container in a pod can be its infra: the pods module (tarfile,
    cgroups) is not imported for the others (inspect is a hot path)."""
    if not container.config.pod:
        return False
    from .pods import is_infra

    return is_infra(container)


def _image(container: "Container"):
    from ..define import NoSuchImage

    if not container.config.image_id:  # --rootfs: no image
        return None
    try:
        return container.runtime.store.image(container.config.image_id)
    except NoSuchImage:
        return None


def _process_env(container: "Container", image) -> list[str]:
    """The environment the process gets: the bundle's, once the spec exists;
    before that, the same merge the spec generator will do.  Secrets given as
    environment variables are left out: a value is never shown.  (msgspec reads
    the bundle: loaded already, where json would be an import of its own.)"""
    import msgspec

    secret = {use.target for use in container.config.secrets if use.type == "env"}
    try:
        with open(f"{container.runtime.paths.userdata(container.id)}/config.json", "rb") as bundle:
            env = msgspec.json.decode(bundle.read())["process"]["env"]
        return [e for e in env if e.partition("=")[0] not in secret]
    except (OSError, ValueError, KeyError):
        pass
    from .process_args import merge_env

    home = "/root" if container.config.user in ("", "0", "root") else "/"
    return merge_env(image.config.env if image else [], container.config.env,
                     hostname=container.config.hostname or container.id[:12], home=home)
