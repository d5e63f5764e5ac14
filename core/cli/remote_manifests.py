"""`husk --remote manifest ...`: the manifest group over libpod's v4 `/manifests`
routes (see :mod:`husk.api.manifests`), as podman-remote 4.3 speaks them."""

from __future__ import annotations

import json
from urllib.parse import quote

import click

from .common import CONTEXT
from .manifest import _annotations, platform_options
from .remote import RemoteCommand, ServiceError, client, path
from .remote_objects import _exists


def _modify(name: str, operation: str, images: list[str], annotations=(), arch="", os_="", variant="",
            os_version="", os_features=(), features=()) -> str:
    body = {"operation": operation, "images": images, "arch": arch, "os": os_, "variant": variant,
            "os_version": os_version, "os_features": list(os_features), "features": list(features),
            "annotations": _annotations(annotations)}
    return client().json("PUT", path("manifests", name), body=body)["Id"]


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-a", "--amend", is_flag=True, help="Add to the list of that name if one exists.")
@click.argument("name")
@click.argument("images", nargs=-1)
def create(amend, name, images):
    """Create a manifest list NAME on the service, holding its IMAGEs."""
    query = {"images": list(images), "amend": str(amend).lower()}
    click.echo(client().json("POST", path("manifests", name), query)["Id"])


def _platform_verb(verb: str, operation: str, target: str, doc: str) -> click.Command:
    """add and annotate: the local verb's platform flags, sent as a modify `operation`."""
    @click.command(verb, cls=RemoteCommand, context_settings=CONTEXT, help=doc)
    @platform_options
    @click.argument("name")
    @click.argument(target)
    def command(annotations, name, **what):
        click.echo(_modify(name, operation, [what.pop(target)], annotations, **what))
    return command


add = _platform_verb("add", "update", "image", "Add the service's image IMAGE to the list NAME.")
annotate = _platform_verb("annotate", "annotate", "digest",
                          "Change the platform or annotations of the instance DIGEST.")


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("name")
@click.argument("digest")
def remove(name, digest):
    """Remove the instance DIGEST from the list NAME."""
    click.echo(_modify(name, "remove", [digest]))


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("name")
def inspect(name):
    """Print the list's index as JSON."""
    click.echo(json.dumps(client().json("GET", path("manifests", name, "json")), indent=4))


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
def rm(names):
    """Remove manifest lists on the service."""
    failed = None
    for name in names:
        try:
            report = client().json("DELETE", path("manifests", name))
        except ServiceError as exc:
            if failed is not None:
                click.echo(f"Error: {failed}", err=True)
            failed = exc
            continue
        for tagged in report.get("Untagged") or []:
            click.echo(f"Untagged: {tagged}")
        for ident in report.get("Deleted") or []:
            click.echo(f"Deleted: {ident}")
    if failed is not None:
        raise failed


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("--all", "all_", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Push the list's images too (default true).")
@click.option("-f", "--format", "format_", default="", type=click.Choice(["", "oci", "v2s2"]),
              help="oci or v2s2 (default: the list's own type).")
@click.option("--rm", "remove_list", is_flag=True, help="Remove the list once pushed.")
@click.option("--tls-verify", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Require HTTPS and a verified certificate.")
@click.option("--digestfile", help="Write the list's digest to this file.")
@click.option("-q", "--quiet", is_flag=True, help="Accepted: the service reports no progress.")
@click.argument("name")
@click.argument("destination")
def push(all_, format_, remove_list, tls_verify, digestfile, quiet, name, destination):
    """Push the service's list NAME (and its images) to DESTINATION in a registry."""
    query = {"all": str(all_).lower(), "format": format_, "rm": str(remove_list).lower(),
             "tlsVerify": str(tls_verify).lower()}
    digest = client().json("POST", path("manifests", name, "registry/" + quote(destination, safe="")), query)["Id"]
    if digestfile:
        with open(digestfile, "w") as stream:
            stream.write(digest)


def group() -> click.Group:
    manifest = click.Group("manifest", help="Manipulate the service's manifest lists.", context_settings=CONTEXT)
    for command in (create, add, annotate, inspect, remove, rm, _exists("manifest"), push):
        manifest.add_command(command)
    return manifest
