"""`generate kube`: pods and containers as Kubernetes YAML (issue 17 item 2).

Each pod becomes a v1 Pod of its members (the infra container stays behind:
Kubernetes makes its own); containers outside a pod become one Pod together,
named after the first (`NAME-pod`), as podman does.  The mapping is podman
4.3's: the command and args only where they replace the image's, the
environment the user gave, the working directory, published ports (the pod's
are its infra container's), limits, the security context, binds as hostPath
volumes, named volumes as persistentVolumeClaims, tmpfs as memory emptyDirs,
--add-host and --dns as hostAliases and dnsConfig, the restart policy.
`--service` adds a NodePort Service for the published ports; a named volume
becomes a PersistentVolumeClaim; `--type deployment` wraps each Pod in a
Deployment.

Every document is valid for the Kubernetes version :data:`KUBERNETES_VERSION`
names (the tests check it with kubernetes-validate in strict mode)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..define import InvalidArgument
from ..formats.timestamps import rfc3339

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.runtime import Runtime

#: the Kubernetes API the documents are written for (and validated against)
KUBERNETES_VERSION = "1.30.0"
HEADER = ("# Save the output of this file and use kubectl create -f to import\n"
          "# it into Kubernetes.\n#\n"
          f"# Created with husk-{__version__}\n")
_RESTART = {"no": "Never", "": "Never", "always": "Always", "unless-stopped": "Always", "on-failure": "OnFailure"}


def generate(runtime: "Runtime", names: list[str], service: bool = False, kind: str = "pod") -> str:
    """The YAML for the pods, containers and volumes named (a pod's name wins
    over a container's, a container's over a volume's); `kind` "deployment"
    wraps each Pod in a Deployment (beyond podman 4.3)."""
    import yaml

    from ..define import NoSuchContainer, NoSuchPod
    from ..engine.pods import get_pod

    if kind not in ("pod", "deployment"):
        raise InvalidArgument(f"invalid type {kind!r}: pod or deployment")
    pods, loose, claims = [], [], []
    for name in names:
        try:
            pod = get_pod(runtime, name)
        except NoSuchPod:
            try:
                loose.append(runtime.container(name))
            except NoSuchContainer:
                if not runtime.volumes.exists(name):
                    raise NoSuchContainer(f"{name} does not refer to a container, pod or volume: no pod with name "
                                          f"or ID {name} found: no such pod") from None
                claims.append(claim_document(runtime.volumes.get(name)))
            continue
        members = [c for c in pod.containers() if c.id != pod.record.infra_id]
        if not members:
            raise InvalidArgument(f"pod {pod.name} only has an infra container: nothing to generate")
        pods.append(pod_document(pod.name, pod.record.created, members, pod.infra(), pod.record.labels,
                                 pod.record.hostname))
    if loose:
        if any(c.config.pod for c in loose):
            raise InvalidArgument("a container of a pod is generated with its pod: name the pod instead")
        pods.append(pod_document(f"{loose[0].name}-pod", loose[0].config.created, loose, None, {}, ""))
    services = [service_document(d) for d in pods if _published(d)] if service else []
    documents = claims + [deployment_document(d) if kind == "deployment" else d for d in pods] + services
    return HEADER + "---\n".join(yaml.safe_dump(d, sort_keys=True, default_flow_style=False) for d in documents)


def claim_document(volume) -> dict[str, Any]:
    """A named volume as a PersistentVolumeClaim (its driver and options as podman's annotations)."""
    annotations = {"volume.podman.io/driver": volume.driver}
    for key, value in volume.options.items():
        annotations[f"volume.podman.io/{'mount-options' if key == 'o' else key}"] = value
    if volume.uid >= 0:
        annotations["volume.podman.io/uid"] = str(volume.uid)
    if volume.gid >= 0:
        annotations["volume.podman.io/gid"] = str(volume.gid)
    metadata: dict[str, Any] = {"name": volume.name, "creationTimestamp": rfc3339(volume.created),
                                "annotations": annotations}
    if volume.labels:
        metadata["labels"] = dict(volume.labels)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


def deployment_document(pod: dict[str, Any]) -> dict[str, Any]:
    """A Pod document as a one-replica Deployment (its template restarts Always, as Kubernetes requires)."""
    name, labels = pod["metadata"]["name"], pod["metadata"]["labels"]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"{name}-deployment", "creationTimestamp": pod["metadata"]["creationTimestamp"],
                         "labels": dict(labels)},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": labels["app"]}},
                     "template": {"metadata": {"name": name, "labels": dict(labels)},
                                  "spec": {**pod["spec"], "restartPolicy": "Always"}}}}


def pod_document(name: str, created: float, containers: list["Container"], infra: "Container | None",
                 labels: dict[str, str], hostname: str) -> dict[str, Any]:
    """A v1 Pod of `containers`; the network settings are the infra container's (else each container's)."""
    network_owner = infra.config if infra is not None else containers[0].config
    kube_name = _dns_label(name)
    spec: dict[str, Any] = {"containers": [], "restartPolicy": _restart_policy(containers)}
    volumes: dict[str, dict] = {}
    for index, container in enumerate(containers):
        # the pod's published ports are its infra container's: written on its first member, as podman does
        ports = (infra.config.ports if index == 0 else []) if infra is not None else container.config.ports
        spec["containers"].append(_container(container, ports, volumes))
    if volumes:
        spec["volumes"] = [{"name": volume_name, **source} for volume_name, source in volumes.items()]
    if hostname:
        spec["hostname"] = hostname
    if network_owner.network == "host":
        spec["hostNetwork"] = True
    files = network_owner.host_files
    aliases: dict[str, list[str]] = {}
    for entry in files.add_hosts:
        host, _, ip = entry.partition(":")
        aliases.setdefault(ip, []).append(host)
    if aliases:
        spec["hostAliases"] = [{"ip": ip, "hostnames": hosts} for ip, hosts in aliases.items()]
    dns: dict[str, Any] = {}
    if files.dns_servers:
        dns["nameservers"] = list(files.dns_servers)
    if files.dns_search:
        dns["searches"] = [d for d in files.dns_search if d != "."]
    if files.dns_options:
        dns["options"] = [dict(zip(("name", "value"), option.split(":", 1))) for option in files.dns_options]
    if dns:
        spec["dnsConfig"] = dns
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": kube_name, "creationTimestamp": rfc3339(created),
                         "labels": {"app": kube_name, **labels}},
            "spec": spec}


def _container(container: "Container", ports, volumes: dict[str, dict]) -> dict[str, Any]:
    from ..engine.spec import ENTRYPOINT_SET_ANNOTATION

    config = container.config
    document: dict[str, Any] = {"name": _dns_label(config.name), "image": config.image_ref or config.image_name}
    if config.entrypoint or config.annotations.get(ENTRYPOINT_SET_ANNOTATION) == "true":
        document["command"] = list(config.entrypoint)
    if config.command:
        document["args"] = list(config.command)
    if config.env:
        document["env"] = [dict(zip(("name", "value"), item.split("=", 1))) if "=" in item
                           else {"name": item, "value": ""} for item in config.env]
    if config.workdir:
        document["workingDir"] = config.workdir
    if config.tty:
        document["tty"] = True
    if config.stdin_open:
        document["stdin"] = True
    if ports:
        document["ports"] = _ports(ports)
    limits = {}
    if config.resources.memory:
        limits["memory"] = str(config.resources.memory)
    if config.resources.nano_cpus:
        limits["cpu"] = f"{max(1, config.resources.nano_cpus // 1_000_000)}m"
    if limits:
        document["resources"] = {"limits": limits}
    security = _security_context(config)
    if security:
        document["securityContext"] = security
    mounts = []
    for mount in config.mounts:
        volume_name, source = _volume(mount)
        volumes.setdefault(volume_name, source)
        entry = {"name": volume_name, "mountPath": mount.destination}
        if "ro" in mount.options:
            entry["readOnly"] = True
        mounts.append(entry)
    if mounts:
        document["volumeMounts"] = mounts
    return document


def _ports(mappings) -> list[dict[str, Any]]:
    from ..network.ports import each_port

    ports = []
    for container_port, protocol, host_ip, host_port in each_port(mappings):
        entry: dict[str, Any] = {"containerPort": container_port, "hostPort": host_port}
        if host_ip:
            entry["hostIP"] = host_ip
        if protocol != "tcp":
            entry["protocol"] = protocol.upper()
        ports.append(entry)
    return ports


def _security_context(config) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if config.privileged:
        context["privileged"] = True
    if config.read_only:
        context["readOnlyRootFilesystem"] = True
    capabilities = {}
    if config.cap_add:
        capabilities["add"] = [cap.upper().removeprefix("CAP_") for cap in config.cap_add]
    if config.cap_drop:
        capabilities["drop"] = [cap.upper().removeprefix("CAP_") for cap in config.cap_drop]
    if capabilities:
        context["capabilities"] = capabilities
    user, _, group = config.user.partition(":")
    if user.isdigit():
        context["runAsUser"] = int(user)
    if group.isdigit():
        context["runAsGroup"] = int(group)
    return context


def _volume(mount) -> tuple[str, dict[str, Any]]:
    """The pod volume a mount stands for, and its name."""
    if mount.type == "volume":
        return _dns_label(f"{mount.source}-pvc"), {"persistentVolumeClaim": {"claimName": mount.source}}
    if mount.type == "tmpfs":
        return _dns_label(f"tmpfs{mount.destination}"), {"emptyDir": {"medium": "Memory"}}
    import os

    kind = "Directory" if os.path.isdir(mount.source) else "File"
    return _dns_label(f"{mount.source.strip('/')}-host"), {"hostPath": {"path": mount.source, "type": kind}}


def _restart_policy(containers: list["Container"]) -> str:
    return _RESTART.get(containers[0].config.restart_policy.name, "Never")


def _published(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [port for container in document["spec"]["containers"] for port in container.get("ports", [])]


def service_document(pod: dict[str, Any]) -> dict[str, Any]:
    """A NodePort Service for a Pod document's published ports, selecting it by its `app` label."""
    name = pod["metadata"]["name"]
    ports = [{"name": f"{port['hostPort']}-{port.get('protocol', 'TCP').lower()}", "port": port["hostPort"],
              "protocol": port.get("protocol", "TCP"), "targetPort": port["containerPort"]}
             for port in _published(pod)]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "creationTimestamp": pod["metadata"]["creationTimestamp"],
                         "labels": {"app": name}},
            "spec": {"ports": ports, "selector": {"app": name}, "type": "NodePort"}}


def _dns_label(name: str) -> str:
    """A name Kubernetes accepts (a DNS label: lower case, digits and '-', 63 at most)."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "husk"
