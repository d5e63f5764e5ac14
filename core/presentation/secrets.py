"""What the CLI and both APIs show of a secret: podman's document, never the value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..formats.timestamps import go_time

if TYPE_CHECKING:
    from ..state.records import SecretRecord


def secret_document(secret: "SecretRecord", path: str) -> dict[str, Any]:
    """podman's SecretInfoReport (Docker's Secret shape, with `Version` added by
    the Docker API); `path` is the file driver's directory, as podman shows it."""
    return {"ID": secret.id, "CreatedAt": go_time(secret.created), "UpdatedAt": go_time(secret.created),
            "Spec": {"Name": secret.name, "Driver": {"Name": secret.driver, "Options": {"path": path}},
                     "Labels": dict(secret.labels)}}
