"""`kube play` and `kube down`: Kubernetes YAML run as pods (issue 17 item 2).

The inverse of :mod:`husk.presentation.kube`, as podman 4.3 reads the
documents: a Pod becomes a pod (its ports, hostAliases, dnsConfig, hostname
and hostNetwork are the pod's) with a container `POD-CONTAINER` for each of
its containers; a Deployment's template becomes the pod `NAME-pod-0` (one
replica); a PersistentVolumeClaim becomes a volume (its driver and options
from podman's `volume.podman.io/...` annotations), made when missing.
ConfigMaps and Secrets (in the YAML, or ConfigMaps from `--configmap` files)
give containers environment variables (`env[].valueFrom.configMapKeyRef` and
`secretKeyRef`, `envFrom[].configMapRef` and `secretRef`) and files (`configMap`
and `secret` volumes: a named volume of the ConfigMap's or Secret's name holding
a file a key).  A Secret document is also stored as a husk secret of its name
(the document as JSON, as podman 4.3 stores it), and a `secretKeyRef` the YAML
does not define is looked up there.  A Deployment makes `replicas` pods
(`NAME-pod-0`, `NAME-pod-1`, ..., podman 4.3's names).  Other kinds are
refused with one line, before anything is made.  `kube down` removes the pods
the same YAML made (volumes and secrets stay, as in podman 4.3).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, BinaryIO

from ..define import InvalidArgument, NoSuchPod

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

KINDS = ("Pod", "Deployment", "PersistentVolumeClaim", "ConfigMap", "Secret")
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
#: the label of the volumes kube play writes ConfigMaps and Secrets into (only those are rewritten)
_FILES_LABEL = "io.husk.kube.files"
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


def pod_names(document: dict[str, Any]) -> list[str]:
    """The pods a Pod or Deployment document makes (a Deployment's: one a replica)."""
    name = _metadata(document).get("name") or ""
    if not name:
        raise InvalidArgument(f"a {document['kind']} without metadata.name")
    if document["kind"] == "Pod":
        return [name]
    replicas = (document.get("spec") or {}).get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or not 0 <= replicas <= 1000:
        raise InvalidArgument(f"deployment {name}: replicas must be a number from 0 to 1000")
    return [f"{name}-pod-{index}" for index in range(replicas)]


def images(documents: list[dict[str, Any]]) -> list[str]:
    """The images the documents' containers run, each once (to pull or build before playing)."""
    found = []
    for document in documents:
        if document["kind"] in ("Pod", "Deployment"):
            for container in _pod_spec(document).get("containers") or []:
                if container.get("image") and container["image"] not in found:
                    found.append(container["image"])
    return found


def _pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    return (document.get("spec") or {}) if document["kind"] == "Pod" else \
        (((document.get("spec") or {}).get("template") or {}).get("spec") or {})


def play(runtime: "Runtime", documents: list[dict[str, Any]], *, start: bool = True,
         network: list[str] | None = None, configmaps: list[dict[str, Any]] = (),
         log_driver: str = "") -> dict[str, list[str]]:
    """Make the volumes, pods and containers; start the pods unless told not
    to.  `configmaps`: ConfigMap documents from elsewhere (`--configmap`);
    `log_driver`: the containers' (`--log-driver`, checked by the caller).
    Returns what was made: {"Volumes": names, "Pods": ids, "Secrets": ids,
    "PodContainers": {pod id: its container ids}}."""
    made: dict = {"Volumes": [], "Pods": [], "Secrets": [], "PodContainers": {}}
    sources = _Sources(runtime, [*documents, *configmaps])
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
            spec = _pod_spec(document)
            labels = (_metadata(document).get("labels") if document["kind"] == "Pod"
                      else document["spec"]["template"].get("metadata", {}).get("labels")) or {}
            for name in pod_names(document):
                pod, containers = _play_pod(runtime, name, spec, labels, network, sources, log_driver)
                made["Pods"].append(pod.id)
                made["PodContainers"][pod.id] = containers
                if start:
                    pod.start()
    for document in documents:  # once the pods are made: a YAML that fails stores nothing
        if document["kind"] == "Secret":
            made["Secrets"].append(_store_secret(runtime, document))
    return made


def down(runtime: "Runtime", documents: list[dict[str, Any]]) -> list[str]:
    """Remove the pods (and their containers) the documents make; their ids."""
    from ..engine.pods import get_pod

    removed = []
    for document in documents:
        if document["kind"] in ("Pod", "Deployment"):
            for name in pod_names(document):
                try:
                    pod = get_pod(runtime, name)
                except NoSuchPod:
                    continue
                pod.remove(force=True, timeout=0)
                removed.append(pod.id)
    return removed


def _metadata(document: dict[str, Any]) -> dict[str, Any]:
    return document.get("metadata") or {}


class _Sources:
    """The ConfigMaps' and Secrets' data by (kind, name): the documents' (a Secret's `data` is
    base64), then, for a Secret, the husk secret of that name that an earlier play stored."""

    def __init__(self, runtime: "Runtime", documents: list[dict[str, Any]]) -> None:
        self.runtime = runtime
        self.found = {(d["kind"], _metadata(d).get("name") or ""): _data(d) for d in documents
                      if d.get("kind") in ("ConfigMap", "Secret")}

    def get(self, kind: str, name: str, optional: bool = False) -> dict[str, str]:
        if (kind, name) not in self.found and kind == "Secret":
            self.found[(kind, name)] = self._stored(name)
        if self.found.get((kind, name)) is None:
            if not optional:
                raise InvalidArgument(f"{kind} {name!r} is not defined (in the YAML or --configmap)")
            return {}
        return self.found[(kind, name)]

    def _stored(self, name: str) -> dict[str, str] | None:
        import yaml

        from ..define import NoSuchSecret
        from ..engine.secrets import lookup, value

        try:
            document = yaml.safe_load(value(self.runtime, lookup(self.runtime, name)))
        except (NoSuchSecret, yaml.YAMLError):
            return None
        if not isinstance(document, dict) or document.get("kind") != "Secret":
            return None  # a secret of the same name that kube play did not store
        return _data(document)


def _data(document: dict[str, Any]) -> dict[str, str]:
    import base64
    import binascii

    data = {str(k): str(v) for k, v in (document.get("data") or {}).items()}
    if document.get("kind") == "Secret":
        try:
            data = {k: base64.b64decode(v, validate=True).decode() for k, v in data.items()}
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgument(f"secret {_metadata(document).get('name')}: data is not base64 text") from None
        data.update({str(k): str(v) for k, v in (document.get("stringData") or {}).items()})
    return data


def _store_secret(runtime: "Runtime", document: dict[str, Any]) -> str:
    """A Secret document as the husk secret of its name (the document as JSON, podman 4.3's
    form); one that an earlier play stored is replaced.  Its id."""
    import json

    from ..define import NoSuchSecret
    from ..engine import secrets

    name = _metadata(document).get("name") or ""
    _data(document)  # bad base64 is refused before anything is stored
    try:
        secrets.remove(runtime, name)
    except NoSuchSecret:
        pass
    return secrets.create(runtime, name, json.dumps(document).encode(), labels={"io.husk.kube": "true"}).id


def _env(container: dict[str, Any], sources: _Sources) -> list[str]:
    """A container's environment: `env` values and references, after `envFrom`'s (as Kubernetes orders them)."""
    source = sources.get

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
              sources: _Sources, log_driver: str):
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
                                        sources, log_driver).id)
    except BaseException:
        pod.remove(force=True, timeout=0)
        raise
    return pod, made


def _play_container(runtime: "Runtime", pod_id: str, pod: str, container: dict[str, Any], volumes: dict,
                    restart: str, sources: _Sources, log_driver: str):
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
        entrypoint=list(container["command"]) if "command" in container else None, env=_env(container, sources),
        workdir=container.get("workingDir", ""), user=user, tty=bool(container.get("tty")),
        stdin_open=bool(container.get("stdin")), privileged=bool(security.get("privileged")),
        read_only=bool(security.get("readOnlyRootFilesystem")), cap_add=list(capabilities.get("add") or []),
        cap_drop=list(capabilities.get("drop") or []), resources=resources, restart_policy=restart,
        mounts=[_mount(runtime, volumes, mount, pod, sources) for mount in container.get("volumeMounts") or []],
        pod=pod_id,
        run_options=RunOptions(log_driver=log_driver))


def _mount(runtime: "Runtime", volumes: dict, mount: dict[str, Any], pod: str, sources: _Sources):
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
    for key, kind, name_key in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
        if key in volume:
            ref = volume[key] or {}
            name = str(ref.get(name_key) or "")
            volume_name = _files_volume(runtime, name, sources.get(kind, name, bool(ref.get("optional"))),
                                        ref.get("items"))
            return parse_volume(f"{volume_name}:{destination}{suffix}")
    raise InvalidArgument(f"volume {volume['name']!r}: only hostPath, persistentVolumeClaim, emptyDir, configMap "
                          "and secret are supported")


def _files_volume(runtime: "Runtime", name: str, data: dict[str, str], items) -> str:
    """The named volume (made when missing) holding a file a key, or a file a listed item at its
    `path`: podman's configMap and secret volumes, named as the ConfigMap or Secret (with
    `items`, the name and a digest of them: two selections of one source are two volumes).  It
    is written afresh (files of keys no longer there removed); a file name is one path
    component (never `..`), and what is there already (a container may have put a symlink) is
    unlinked, never followed.  The volume's name."""
    import hashlib
    import json
    import os
    import stat

    chosen = {str(item.get("key")): str(item.get("path") or item.get("key")) for item in items or []}
    files = {chosen.get(key, key): text for key, text in data.items() if not chosen or key in chosen}
    for file_name in files:
        if not file_name or "/" in file_name or file_name in (".", ".."):
            raise InvalidArgument(f"volume {name}: invalid file name {file_name!r} (one path component)")
    if chosen:
        name += "-" + hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:12]
    volume = runtime.volumes.create(name, labels={_FILES_LABEL: "true"}, ignore=True)
    if _FILES_LABEL not in volume.labels:
        raise InvalidArgument(f"volume {name} exists and kube play did not make it: its files are not replaced")
    directory = os.open(runtime.volumes.path(volume), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for entry in os.listdir(directory):  # every file goes (directories a container made stay)
            if not stat.S_ISDIR(os.stat(entry, dir_fd=directory, follow_symlinks=False).st_mode):
                os.unlink(entry, dir_fd=directory)
        for file_name, text in files.items():
            fd = os.open(file_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
    except OSError as exc:
        raise InvalidArgument(f"volume {name}: {exc.filename or ''}: {exc.strerror}") from None
    finally:
        os.close(directory)
    return name


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
