"""podman's `image inspect` document, shown by `husk image inspect` and the
libpod API's image inspect alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..state.records import ImageRecord


def image_document(image: "ImageRecord") -> dict[str, Any]:
    """podman's ImageData for one image."""
    from ..formats.timestamps import rfc3339

    cfg = image.config
    return {"Id": image.id, "Digest": image.digest or "sha256:" + image.id, "RepoTags": list(image.names),
            "RepoDigests": repo_digests(image), "NamesHistory": list(image.names_history),
            "Created": rfc3339(image.created), "Size": image.size, "VirtualSize": image.size,
            "Config": {"Cmd": cfg.cmd or None, "Entrypoint": cfg.entrypoint or None, "Env": cfg.env,
                       "WorkingDir": cfg.workdir, "User": cfg.user, "Labels": cfg.labels or None,
                       "StopSignal": cfg.stop_signal,
                       **({"ExposedPorts": {key: {} for key in cfg.exposed_ports}} if cfg.exposed_ports else {})},
            **_platform(image),
            "RootFS": {"Type": "layers", "Layers": list(image.layers)}, "Labels": cfg.labels or None}


def _platform(image: "ImageRecord") -> dict[str, str]:
    """Architecture, Os (and Variant when it has one) as the image's config says them."""
    import json

    try:
        document = json.loads(image.config_json) if image.config_json else {}
    except ValueError:
        document = {}
    fields = {"Architecture": document.get("architecture") or "amd64", "Os": document.get("os") or "linux"}
    if document.get("variant"):
        fields["Variant"] = document["variant"]
    return fields


def repo_digests(image: "ImageRecord") -> list[str]:
    """`repository@digest` for each name of an image that came from (or went to) a registry."""
    if not image.digest:
        return []
    repositories = (name.partition("@")[0] if "@" in name else name.rpartition(":")[0] for name in image.names)
    return list(dict.fromkeys(f"{repository}@{image.digest}" for repository in repositories))
