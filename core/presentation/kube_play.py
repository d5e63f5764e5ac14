"""`kube play` and `kube down`: Kubernetes YAML run as pods (issue 17 item 2).

The inverse of :mod:`husk.presentation.kube`, as podman 4.3 reads the
documents: a Pod becomes a pod (its ports, hostAliases, dnsConfig, hostname
and hostNetwork are the pod's) with a container `POD-CONTAINER` for each of
its containers; a Deployment's template becomes the pod `NAME-pod-0` (one
replica); a PersistentVolumeClaim becomes a volume (its driver and options
from podman's `volume.podman.io/...` annotations), made when missing.
ConfigMaps and Secrets (in the YAML, or ConfigMaps from `--configmap` files)
give containers environment variables (`env[].valueFrom.configMapKeyRef` and
`secretKeyRef`, `envFrom[].configMapRef` and `secretRef`).  Other kinds are
refused with one line, before anything is made.  `kube down`
removes the pods the same YAML made (volumes stay, as in podman).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, BinaryIO

from ..define import InvalidArgument, NoSuchPod

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

KINDS = ("Pod", "Deployment", "PersistentVolumeClaim", "ConfigMap", "Secret")
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
_UNITS = {"": 1, "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
          "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def read_documents(stream: BinaryIO) -> list[dict[str, Any]]:
    """The YAML documents of `stream`, each a mapping of a kind husk plays."""
    import yaml

    try:
        documents = [d for d in yaml.safe_load_all(stream) if d is not None]
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"unable to read YAML as Kube Pod: {exc}".replace("\n", " ")) from None
    for document in documents:
        if not isinstance(document, dict) or "kind" not in document:
            raise InvalidArgument("invalid YAML: a document is not a Kubernetes object (it has no kind)")
        if document["kind"] not in KINDS:
            raise InvalidArgument(f"kind {document['kind']!r} is not supported: {', '.join(KINDS)}")
    return documents


def pod_name(document: dict[str, Any]) -> str:
    """The pod a Pod or Deployment document makes."""
    name = _metadata(document).get("name") or ""
    if not name:
        raise InvalidArgument(f"a {document['kind']} without metadata.name")
    return name if document["kind"] == "Pod" else f"{name}-pod-0"


def play(runtime: "Runtime", documents: list[dict[str, Any]], *, start: bool = True,
         network: list[str] | None = None, configmaps: list[dict[str, Any]] = (),
         log_driver: str = "") -> dict[str, list[str]]:
    """Make the volumes, pods and containers; start the pods unless told not
    to.  `configmaps`: ConfigMap documents from elsewhere (`--configmap`);
    `log_driver`: the containers' (`--log-driver`, checked by the caller).
    Returns what was made: {"Volumes": names, "Pods": ids, "Containers": ids}."""
    made: dict[str, list[str]] = {"Volumes": [], "Pods": [], "Containers": []}
    sources = _sources([*documents, *configmaps])
    for document in documents:
        if document["kind"] == "PersistentVolumeClaim":
            name = _metadata(document).get("name") or ""
            if not runtime.volumes.exists(name):
                annotations = _metadata(document).get("annotations") or {}
                options = {("o" if key == "mount-options" else key): str(value)
                           for key, value in ((k.removeprefix("volume.podman.io/"), v) for k, v in annotations.items()
                                              if k.startswith("volume.podman.io/"))
                           if key not in ("driver", "uid", "gid")}
                runtime.volumes.create(name, driver=annotations.get("volume.podman.io/driver", "local"),
                                       options=options, labels=_metadata(document).get("labels") or {})
                made["Volumes"].append(name)
    for document in documents:
        if document["kind"] in ("Pod", "Deployment"):
            spec = document["spec"] if document["kind"] == "Pod" else document["spec"]["template"]["spec"]
            labels = (_metadata(document).get("labels") if document["kind"] == "Pod"
                      else document["spec"]["template"].get("metadata", {}).get("labels")) or {}
            pod, containers = _play_pod(runtime, pod_name(document), spec, labels, network, sources, log_driver)
            made["Pods"].append(pod.id)
            made["Containers"] += containers
            if start:
                pod.start()
    return made


def down(runtime: "Runtime", documents: list[dict[str, Any]]) -> list[str]:
    """Remove the pods (and their containers) the documents make; their ids."""
    from ..engine.pods import get_pod

    removed = []
    for document in documents:
        if document["kind"] in ("Pod", "Deployment"):
            try:
                pod = get_pod(runtime, pod_name(document))
            except NoSuchPod:
                continue
            pod.remove(force=True, timeout=0)
            removed.append(pod.id)
    return removed


def _metadata(document: dict[str, Any]) -> dict[str, Any]:
    return document.get("metadata") or {}


def _sources(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """The ConfigMaps' and Secrets' data by (kind, name); a Secret's `data` is base64."""
    import base64
    import binascii

    found = {}
    for document in documents:
        kind = document.get("kind")
        if kind not in ("ConfigMap", "Secret"):
            continue
        data = {str(k): str(v) for k, v in (document.get("data") or {}).items()}
        if kind == "Secret":
            try:
                data = {k: base64.b64decode(v, validate=True).decode() for k, v in data.items()}
            except (binascii.Error, UnicodeDecodeError):
                raise InvalidArgument(f"secret {_metadata(document).get('name')}: data is not base64 text") from None
            data.update({str(k): str(v) for k, v in (document.get("stringData") or {}).items()})
        found[(kind, _metadata(document).get("name") or "")] = data
    return found


def _env(container: dict[str, Any], sources: dict) -> list[str]:
    """A container's environment: `env` values and references, after `envFrom`'s (as Kubernetes orders them)."""
    def source(kind: str, name: str, optional: bool) -> dict[str, str]:
        if (kind, name) not in sources and not optional:
            raise InvalidArgument(f"{kind} {name!r} is not defined (in the YAML or --configmap)")
        return sources.get((kind, name), {})

    env = {}
    for item in container.get("envFrom") or []:
        ref = item.get("configMapRef") or item.get("secretRef") or {}
        kind = "ConfigMap" if "configMapRef" in item else "Secret"
        prefix = item.get("prefix", "")
        env.update({prefix + k: v for k, v in source(kind, ref.get("name", ""), ref.get("optional", False)).items()})
    for item in container.get("env") or []:
        if "valueFrom" not in item:
            env[item["name"]] = str(item.get("value", ""))
            continue
        ref = item["valueFrom"].get("configMapKeyRef") or item["valueFrom"].get("secretKeyRef")
        if ref is None:
            raise InvalidArgument(f"env {item['name']}: only configMapKeyRef and secretKeyRef are supported in valueFrom")
        kind = "ConfigMap" if "configMapKeyRef" in item["valueFrom"] else "Secret"
        data = source(kind, ref.get("name", ""), ref.get("optional", False))
        if ref.get("key") in data:
            env[item["name"]] = data[ref["key"]]
        elif not ref.get("optional", False):
            raise InvalidArgument(f"env {item['name']}: {kind} {ref.get('name')!r} has no key {ref.get('key')!r}")
    return [f"{name}={value}" for name, value in env.items()]


def _play_pod(runtime: "Runtime", name: str, spec: dict[str, Any], labels: dict, network: list[str] | None,
              sources: dict, log_driver: str):
    """The pod of one Pod spec and its containers (the pod is removed again when a container cannot be made)."""
    from ..engine.pods import create_pod
    from ..network.ports import libpod_mapping
    from ..state.records import HostFiles

    containers = spec.get("containers") or []
    if not containers:
        raise InvalidArgument(f"pod {name} has no containers")
    ports = [mapping for container in containers for port in container.get("ports") or [] if port.get("hostPort")
             for mapping in libpod_mapping(int(port["containerPort"]), int(port["hostPort"]),
                                           port.get("hostIP", ""), str(port.get("protocol", "TCP")).lower())]
    dns = spec.get("dnsConfig") or {}
    host_files = HostFiles(
        dns_servers=list(dns.get("nameservers") or []), dns_search=list(dns.get("searches") or []),
        dns_options=[f"{o['name']}:{o['value']}" if o.get("value") else o["name"] for o in dns.get("options") or []],
        add_hosts=[f"{host}:{alias['ip']}" for alias in spec.get("hostAliases") or [] for host in alias["hostnames"]])
    mode = "host" if spec.get("hostNetwork") else network
    pod = create_pod(runtime, name, hostname=spec.get("hostname", ""), labels={str(k): str(v) for k, v in labels.items()},
                     network=mode, ports=ports, host_files=host_files)
    volumes = {volume["name"]: volume for volume in spec.get("volumes") or []}
    made = []
    try:
        for container in containers:
            made.append(_play_container(runtime, pod.id, name, container, volumes,
                                        _RESTART.get(spec.get("restartPolicy", "Always"), "always"),
                                        _env(container, sources), log_driver).id)
    except BaseException:
        pod.remove(force=True, timeout=0)
        raise
    return pod, made


def _play_container(runtime: "Runtime", pod_id: str, pod: str, container: dict[str, Any], volumes: dict,
                    restart: str, env: list[str], log_driver: str):
    from ..engine.resources import limits as make_limits
    from ..state.run_options import RunOptions

    if not container.get("image"):
        raise InvalidArgument(f"container {container.get('name')} in pod {pod} has no image")
    limits = (container.get("resources") or {}).get("limits") or {}
    resources = None
    if limits:
        resources = make_limits(memory=_bytes(limits["memory"]) if "memory" in limits else None,
                                cpus=_cpus(limits["cpu"]) if "cpu" in limits else None)
    security = container.get("securityContext") or {}
    capabilities = security.get("capabilities") or {}
    user = str(security["runAsUser"]) if "runAsUser" in security else ""
    if user and "runAsGroup" in security:
        user += f":{security['runAsGroup']}"
    return runtime.create_container(
        container["image"], list(container.get("args") or []), name=f"{pod}-{container['name']}",
        entrypoint=list(container["command"]) if "command" in container else None, env=env,
        workdir=container.get("workingDir", ""), user=user, tty=bool(container.get("tty")),
        stdin_open=bool(container.get("stdin")), privileged=bool(security.get("privileged")),
        read_only=bool(security.get("readOnlyRootFilesystem")), cap_add=list(capabilities.get("add") or []),
        cap_drop=list(capabilities.get("drop") or []), resources=resources, restart_policy=restart,
        mounts=[_mount(volumes, mount, pod) for mount in container.get("volumeMounts") or []], pod=pod_id,
        run_options=RunOptions(log_driver=log_driver))


def _mount(volumes: dict, mount: dict[str, Any], pod: str):
    from .mounts import parse_tmpfs, parse_volume

    volume = volumes.get(mount.get("name"))
    if volume is None:
        raise InvalidArgument(f"volume {mount.get('name')!r} of pod {pod} is not defined in its spec")
    destination = mount["mountPath"]
    suffix = ":ro" if mount.get("readOnly") else ""
    if "hostPath" in volume:
        return parse_volume(f"{volume['hostPath']['path']}:{destination}{suffix}")
    if "persistentVolumeClaim" in volume:
        return parse_volume(f"{volume['persistentVolumeClaim']['claimName']}:{destination}{suffix}")
    if "emptyDir" in volume:
        medium = (volume["emptyDir"] or {}).get("medium")
        return parse_tmpfs(destination) if medium == "Memory" else parse_volume(destination)
    raise InvalidArgument(f"volume {volume['name']!r}: only hostPath, persistentVolumeClaim and emptyDir are supported")


def _bytes(quantity) -> int:
    match = re.fullmatch(r"([0-9]+)([kMGT]i?)?", str(quantity))
    if not match:
        raise InvalidArgument(f"invalid memory quantity {quantity!r}")
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def _cpus(quantity) -> float:
    text = str(quantity)
    try:
        return int(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise InvalidArgument(f"invalid cpu quantity {quantity!r}") from None
