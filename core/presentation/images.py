"""podman's `image inspect` document, shown by `husk image inspect` and the
libpod API's image inspect alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..state.paths import Paths
    from ..state.records import ImageRecord


def image_document(image: "ImageRecord", paths: "Paths") -> dict[str, Any]:
    """podman's ImageData for one image (`paths`: where its layers are, for GraphDriver)."""
    from ..formats.timestamps import go_time

    cfg = image.config
    stored = _stored_config(image)
    return {"Id": image.id, "Digest": image.digest or "sha256:" + image.id, "RepoTags": list(image.names),
            "RepoDigests": repo_digests(image), "Parent": "", "Comment": _comment(stored),
            "Created": go_time(image.created),
            "Config": {"Cmd": cfg.cmd or None, "Entrypoint": cfg.entrypoint or None, "Env": cfg.env,
                       "WorkingDir": cfg.workdir, "User": cfg.user, "Labels": cfg.labels or None,
                       "StopSignal": cfg.stop_signal,
                       **({"ExposedPorts": {key: {} for key in cfg.exposed_ports}} if cfg.exposed_ports else {})},
            "Version": _text(stored.get("docker_version")), "Author": _text(stored.get("author")),
            **_platform(stored), "Size": image.size, "VirtualSize": image.size,
            "GraphDriver": _graph_driver(image, paths),
            "RootFS": {"Type": "layers", "Layers": list(image.layers)}, "Labels": cfg.labels or None,
            "Annotations": dict(image.annotations), "ManifestType": _manifest_type(stored), "User": cfg.user,
            "History": _history(stored), "NamesHistory": list(image.names_history)}


def image_summary(image: "ImageRecord", containers: int) -> dict[str, Any]:
    """libpod's ImageSummary (an entry of its image list), in its field order: what the libpod
    API's list serves and, through husk.cli.image.list_documents, `images --format json` prints.
    `containers`: how many containers use the image.  Dangling, Names and History are omitted
    when empty (Go's omitempty)."""
    names = list(image.names)
    return {"Id": image.id, "ParentId": "", "RepoTags": names or None, "RepoDigests": repo_digests(image),
            "Created": int(image.created), "Size": image.size, "SharedSize": 0, "VirtualSize": image.size,
            "Labels": dict(image.config.labels) or None, "Containers": containers,
            **({} if names else {"Dangling": True}), **({"Names": names} if names else {}),
            "Digest": image.digest or "sha256:" + image.id,
            **({"History": list(image.names_history)} if image.names_history else {})}


def config_fields(image: "ImageRecord") -> dict[str, str]:
    """What an image's stored config says that Docker's inspect shows too: its
    comment, author, Docker version and platform (Architecture, Os, Variant)."""
    stored = _stored_config(image)
    return {"Comment": _comment(stored), "Author": _text(stored.get("author")),
            "DockerVersion": _text(stored.get("docker_version")), **_platform(stored)}


def _graph_driver(image: "ImageRecord", paths: "Paths") -> dict[str, Any]:
    """podman's overlay view of an image: the top layer as UpperDir, the rest below."""
    diffs = [paths.layer_diff(layer) for layer in reversed(image.layers)]
    data = {"UpperDir": diffs[0], **({"LowerDir": ":".join(diffs[1:])} if diffs[1:] else {})} if diffs else None
    return {"Name": "overlay", "Data": data}


def _stored_config(image: "ImageRecord") -> dict[str, Any]:
    """The image's config as it was stored (Docker's or OCI's JSON), {} if none."""
    import json

    try:
        document = json.loads(image.config_json) if image.config_json else {}
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _comment(stored: dict[str, Any]) -> str:
    """Docker's top-level comment, else the first history entry's (as podman reads it)."""
    history = _history(stored)
    return _text(stored.get("comment")) or (_text(history[0].get("comment")) if history else "")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _platform(stored: dict[str, Any]) -> dict[str, str]:
    """Architecture, Os (and Variant when it has one) as the image's config says them."""
    fields = {"Architecture": _text(stored.get("architecture")) or "amd64", "Os": _text(stored.get("os")) or "linux"}
    if _text(stored.get("variant")):
        fields["Variant"] = stored["variant"]
    return fields


def _manifest_type(stored: dict[str, Any]) -> str:
    """Docker's schema 2 for a config that Docker's tools wrote (they add
    `container_config` or `docker_version`, which OCI's config has not), else OCI's."""
    if "container_config" in stored or "docker_version" in stored:
        return "application/vnd.docker.distribution.manifest.v2+json"
    return "application/vnd.oci.image.manifest.v1+json"


def _history(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """The config's history entries, in podman's (OCI's) field names."""
    entries = stored.get("history")
    if not isinstance(entries, list):
        return []
    keys = ("created", "created_by", "author", "comment", "empty_layer")
    return [{key: entry[key] for key in keys if key in entry} for entry in entries if isinstance(entry, dict)]


def repo_digests(image: "ImageRecord") -> list[str]:
    """`repository@digest` for each name of an image that came from (or went to) a registry."""
    if not image.digest:
        return []
    repositories = (name.partition("@")[0] if "@" in name else name.rpartition(":")[0] for name in image.names)
    return list(dict.fromkeys(f"{repository}@{image.digest}" for repository in repositories))
