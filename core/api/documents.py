"""husk's records in the Docker Engine API's JSON shapes (container list and
inspect, image list and inspect, events, version, info).

Where Docker and podman disagree the Docker API's shape wins here: names start
with "/", `Config.Image` is what the user typed, `Config.Entrypoint` is a list,
`HostConfig.Runtime` names the real runtime, states use Docker's words.
"""

from __future__ import annotations

import os
import platform
import time
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..define import State
from ..engine.networking import network_settings
from ..network.ports import docker_ports

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..state.events import Event
    from ..state.records import ImageRecord
    from ..engine.runtime import Runtime

#: The Docker API version husk speaks (Docker 20.10), and the oldest it accepts.
API_VERSION = "1.41"
MIN_API_VERSION = "1.24"

_DOCKER_STATE = {State.CONFIGURED: "created", State.CREATED: "created", State.RUNNING: "running",
                 State.PAUSED: "paused", State.STOPPED: "exited", State.EXITED: "exited",
                 State.REMOVING: "removing"}


def docker_state(container: "Container") -> str:
    return _DOCKER_STATE[container.state.state]


def status_text(container: "Container", now: float) -> str:
    """Docker's Status column: `Up 5 seconds`, `Up 5 seconds (Paused)`, `Exited (0) 2 minutes ago`, `Created`."""
    from ..formats.timestamps import human_duration

    st = container.state
    if st.state in (State.RUNNING, State.PAUSED):
        up = f"Up {human_duration(now - st.started_at)}"
        if st.state is State.PAUSED:
            return up + " (Paused)"
        from ..engine.health import status

        health = status(container)
        return f"{up} (health: starting)" if health == "starting" else f"{up} ({health})" if health else up
    if st.state in (State.STOPPED, State.EXITED):
        return f"Exited ({st.exit_code}) {human_duration(now - st.finished_at)} ago"
    return "Removal In Progress" if st.state is State.REMOVING else "Created"


def _network_mode(container: "Container") -> str:
    """Docker's NetworkMode: `bridge` for the default network, else the first network's name."""
    from ..engine.networking import network_names, uses_networks

    if not uses_networks(container):
        return container.config.network
    first = network_names(container)[0]
    return "bridge" if first == container.runtime.config.default_network else first


def _summary_ports(mappings) -> list[dict[str, Any]]:
    from ..network.ports import each_port

    return [{"IP": host_ip or "0.0.0.0", "PrivatePort": port, "PublicPort": host_port, "Type": protocol}
            for port, protocol, host_ip, host_port in each_port(mappings)]


def container_summary(container: "Container", image: "ImageRecord | None", now: float) -> dict[str, Any]:
    """One entry of `GET /containers/json`."""
    from ..presentation.ps import command_args

    config = container.config
    return {
        "Id": config.id, "Names": ["/" + config.name], "Image": config.image_name,
        "ImageID": "sha256:" + config.image_id, "Command": " ".join(command_args(container, image)),
        "Created": int(config.created), "Ports": _summary_ports(config.ports), "Labels": dict(config.labels),
        "State": docker_state(container), "Status": status_text(container, now),
        "HostConfig": {"NetworkMode": _network_mode(container)},
        "NetworkSettings": {"Networks": network_settings(container, docker_names=True)["Networks"]},
        "Mounts": [_mount(container, m) for m in config.mounts],
    }


def _mount(container: "Container", mount) -> dict[str, Any]:
    """Docker's MountPoint: podman's entry without Options."""
    from ..engine.volume_mounts import mount_document

    document = mount_document(container.runtime, mount)
    del document["Options"]
    return document


def container_inspect(container: "Container") -> dict[str, Any]:
    """`GET /containers/{id}/json`: podman's document reshaped to Docker's."""
    doc = container.inspect()
    config, st = container.config, container.state
    state = doc["State"]
    for podman_only in ("OciVersion", "ConmonPid", "Checkpointed", "CheckpointedAt", "RestoredAt", "CheckpointLog",
                        "CheckpointPath", "RestoreLog", "Restored"):
        state.pop(podman_only, None)
    state["Status"] = docker_state(container)
    state["Dead"] = False
    if config.healthcheck is None:
        del state["Health"]  # Docker shows it only for a container with a check
    doc["Config"].pop("HealthcheckOnFailureAction", None)
    entrypoint = doc["Config"]["Entrypoint"]
    doc["Config"].update({
        "Image": config.image_name,
        "Entrypoint": entrypoint.split(" ") if entrypoint else None,
        "AttachStdin": config.stdin_open, "AttachStdout": True, "AttachStderr": True,
        "StdinOnce": config.stdin_open,
        "Labels": dict(config.labels),
        "StopSignal": config.stop_signal,  # Docker's shape: the name (podman's: the number)
        "ExposedPorts": {key: {} for key in config.exposed_ports} or None,
    })
    for podman_only in ("Annotations", "CreateCommand"):
        doc["Config"].pop(podman_only, None)
    doc["HostConfig"].pop("IDMappings", None)  # podman's only: Docker's HostConfig has no such field
    doc["HostConfig"].update({
        # "json-file": what clients check before reading logs through the API
        # (docker-py's run() returns no output for any other driver); husk's
        # k8s-file log is served by /logs the same way.
        "Runtime": config.runtime, "ConsoleSize": config.console_size or [0, 0], "LogConfig": {"Type": "json-file", "Config": {}},
        "Binds": doc["HostConfig"]["Binds"] or None,
        "CapAdd": list(config.cap_add) or None, "CapDrop": list(config.cap_drop) or None,
        "SecurityOpt": doc["HostConfig"]["SecurityOpt"] or None,
        "NetworkMode": _network_mode(container), "PortBindings": docker_ports(config.ports),
    })
    return {
        "Id": config.id, "Created": doc["Created"], "Path": doc["Path"], "Args": doc["Args"],
        "State": state, "Image": "sha256:" + config.image_id,
        "ResolvConfPath": doc["ResolvConfPath"], "HostnamePath": doc["HostnamePath"],
        "HostsPath": doc["HostsPath"], "LogPath": container.runtime.paths.log_path(config.id),
        "Name": "/" + config.name, "RestartCount": st.restart_count, "Driver": "overlay",
        "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": sorted(st.exec_sessions) or None, "HostConfig": doc["HostConfig"],
        "GraphDriver": doc["GraphDriver"], "Mounts": [_mount(container, m) for m in config.mounts],
        "Config": doc["Config"],
        "NetworkSettings": network_settings(container, docker_names=True),
    }


def image_summary(image: "ImageRecord", containers: int) -> dict[str, Any]:
    return {"Id": "sha256:" + image.id, "ParentId": "", "RepoTags": list(image.names) or ["<none>:<none>"],
            "RepoDigests": [], "Created": int(image.created), "Size": image.size, "SharedSize": -1,
            "VirtualSize": image.size, "Labels": dict(image.config.labels), "Containers": containers}


def image_inspect(image: "ImageRecord") -> dict[str, Any]:
    """Docker's image inspect; comment, author, version and platform as the stored config says."""
    from ..formats.timestamps import rfc3339
    from ..presentation.images import config_fields, repo_digests

    cfg = image.config
    fields = config_fields(image)
    return {
        "Id": "sha256:" + image.id, "RepoTags": list(image.names), "RepoDigests": repo_digests(image),
        "Parent": "", "Comment": fields["Comment"], "Created": rfc3339(image.created),
        "DockerVersion": fields["DockerVersion"], "Author": fields["Author"],
        "Config": {"Cmd": cfg.cmd or None, "Entrypoint": cfg.entrypoint or None, "Env": cfg.env,
                   "WorkingDir": cfg.workdir, "User": cfg.user, "Labels": dict(cfg.labels),
                   "StopSignal": cfg.stop_signal or None, **_config_extras(image)},
        "Architecture": fields["Architecture"], "Os": fields["Os"],
        **({"Variant": fields["Variant"]} if "Variant" in fields else {}), "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Name": "overlay", "Data": None},
        "RootFS": {"Type": "layers", "Layers": list(image.layers)},  # diff_ids: "sha256:..." already
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


#: what Docker's image inspect shows of an image config beyond husk's ImageConfig (a built image's)
_CONFIG_EXTRAS = ("ExposedPorts", "Volumes", "Healthcheck", "OnBuild", "Shell")


def _config_extras(image: "ImageRecord") -> dict[str, Any]:
    """Those of _CONFIG_EXTRAS the image's config JSON has."""
    import json

    try:
        config = (json.loads(image.config_json) if image.config_json else {}).get("config") or {}
    except ValueError:
        return {}
    return {key: config[key] for key in _CONFIG_EXTRAS if config.get(key)}


#: Docker's names for husk's container event statuses
#: (`docker events` shows `die`, `destroy` and `exec_die`)
DOCKER_EVENT_ACTIONS = {"died": "die", "remove": "destroy", "exec_died": "exec_die"}


def event(event: "Event", libpod: bool = False) -> dict[str, Any]:
    """One event as Docker streams it (`exitCode` is Docker's name for the died code); with
    `libpod`, as podman's service does: the same shape with podman's statuses (`died`, `remove`)
    and attribute names, which podman-remote parses back (an unknown status is its crash)."""
    from ..state.events import EXIT_CODE_ATTRIBUTE

    attributes = {"image": event.image, "name": event.name, **event.attributes}
    if libpod:
        attributes.setdefault(EXIT_CODE_ATTRIBUTE, "0")  # podman-remote drops an event without one
        return {"status": event.status, "id": event.id, "from": event.image, "Type": event.type,
                "Action": event.status, "Actor": {"ID": event.id, "Attributes": attributes},
                "scope": "local", "time": event.time_ns // 1_000_000_000, "timeNano": event.time_ns}
    if EXIT_CODE_ATTRIBUTE in attributes:
        attributes["exitCode"] = attributes.pop(EXIT_CODE_ATTRIBUTE)
    action = DOCKER_EVENT_ACTIONS.get(event.status, event.status) if event.type == "container" else event.status
    if action == "health_status":  # Docker's action carries the status: "health_status: healthy"
        action = f"health_status: {attributes.pop('health_status', '')}"
    return {"status": action, "id": event.id, "from": event.image, "Type": event.type,
            "Action": action, "Actor": {"ID": event.id, "Attributes": attributes},
            "scope": "local", "time": event.time_ns // 1_000_000_000, "timeNano": event.time_ns}


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def version() -> dict[str, Any]:
    uname = os.uname()
    return {
        "Platform": {"Name": "husk"},
        "Components": [{"Name": "husk", "Version": __version__, "Details": {"APIVersion": API_VERSION}}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "", "GoVersion": f"python{platform.python_version()}", "Os": "linux",
        "Arch": _arch(), "KernelVersion": uname.release, "BuildTime": "",
    }


def info(runtime: "Runtime") -> dict[str, Any]:
    states = [c.state.state for c in runtime.containers(errors=[])]
    running, paused = states.count(State.RUNNING), states.count(State.PAUSED)
    uname = os.uname()
    return {
        "ID": "", "Containers": len(states), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": len(states) - running - paused, "Images": len(runtime.store.images()),
        "Driver": "overlay", "DriverStatus": [], "DockerRootDir": runtime.paths.root,
        "Plugins": {"Volume": [], "Network": [], "Authorization": None, "Log": ["k8s-file"]},
        "MemoryLimit": False, "SwapLimit": False, "CpuCfsPeriod": False, "CpuCfsQuota": False,
        "IPv4Forwarding": False, "Debug": False, "NFd": 0, "NGoroutines": 0,
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "LoggingDriver": "k8s-file", "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "KernelVersion": uname.release, "OperatingSystem": "husk", "OSType": "linux", "Architecture": _arch(),
        "NCPU": os.cpu_count() or 1, "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "Name": uname.nodename, "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {name: {"path": name} for name in sorted(runtime.plugins.runtimes)},
        "DefaultRuntime": runtime.default_runtime, "Swarm": {"LocalNodeState": "inactive"},
        "LiveRestoreEnabled": True, "Isolation": "", "SecurityOptions": [], "Warnings": [],
    }


def encode(document: Any) -> bytes:
    """A response document as JSON bytes.

    msgspec rather than json.dumps: the container list is the largest document
    built per request (about 0.4 KB a container), and json.dumps took a quarter
    of its time, on the event loop.  A lone surrogate (a path that is not
    UTF-8, decoded with surrogateescape) is refused by msgspec; json.dumps
    escapes it, so such a document still gets an answer."""
    import msgspec

    try:
        return msgspec.json.encode(document, enc_hook=str)  # str: a GoTime is its RFC 3339 text
    except UnicodeEncodeError:
        import json

        return json.dumps(document).encode()
