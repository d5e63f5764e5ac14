"""`secret create/ls/inspect/rm/exists`: podman's verbs (exists beyond 4.3).
A secret's value is read here and handed to the engine; no verb prints it."""

from __future__ import annotations

import json
import os
import sys

import click

from ..define import HuskError, InvalidArgument
from ..presentation.secrets import secret_document
from .common import CONTEXT

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
LS_HEADERS = {"CreatedAt": "CREATED", "UpdatedAt": "UPDATED"}


@click.command(context_settings=CONTEXT)
@click.option("-d", "--driver", default="file", show_default=True, help="Secret driver (file).")
@click.option("--env", is_flag=True, help="SOURCE names an environment variable holding the value.")
@click.option("-l", "--label", "labels", multiple=True, help="Label KEY=VALUE.")
@click.argument("name")
@click.argument("source")
@click.pass_obj
def create(session, driver, env, labels, name, source):
    """Create a secret from a file, - (stdin) or, with --env, an environment variable."""
    from ..engine import secrets
    from .options import open_input, parse_labels

    if env:
        if source not in os.environ:
            raise InvalidArgument(f"cannot create store secret data: environment variable {source} is not set")
        data = os.environ[source].encode()
    else:
        with open_input(source) as stream:
            data = stream.read(secrets.MAX_SIZE + 1)
    click.echo(secrets.create(session.runtime, name, data, driver=driver, labels=parse_labels(labels)).id)


@click.command("ls", context_settings=CONTEXT)
@click.option("--format", "format_", default="", help="Go template, or json.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the ids.")
@click.option("-n", "--noheading", is_flag=True, help="No header row.")
@click.pass_obj
def ls(session, format_, quiet, noheading):
    """List secrets."""
    secrets = sorted(session.runtime.store.secrets(), key=lambda s: s.created)
    path = session.runtime.paths.secrets_dir
    print_secrets([secret_document(s, path) for s in secrets], format_, quiet, not noheading)


def print_secrets(documents: list[dict], format_: str, quiet: bool, heading: bool) -> None:
    """`secret ls` of podman's SecretInfoReports (this host's or a service's); --format json
    prints the documents (podman 4.3 prints the word itself, once a secret: a bug later podmans
    fixed so)."""
    import time

    from ..formats.timestamps import human_duration, parse_rfc3339_ns
    from .listing import print_listing

    now = time.time()

    def ago(when: str) -> str:
        return human_duration(now - parse_rfc3339_ns(when) / 1e9) + " ago"

    def row(doc: dict) -> dict:
        spec = doc["Spec"]
        return {"ID": doc["ID"], "Name": spec["Name"], "Driver": spec["Driver"]["Name"],
                "CreatedAt": ago(doc["CreatedAt"]), "UpdatedAt": ago(doc["UpdatedAt"])}

    print_listing(documents, format_, quiet, heading, LS_TABLE, LS_HEADERS, row, lambda doc: doc["ID"])


@click.command(context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template, or json.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(session, format_, names):
    """Show secrets' details (never their values)."""
    from ..engine import secrets

    from .listing import print_inspected

    path = session.runtime.paths.secrets_dir
    print_inspected(names, lambda name: secret_document(secrets.lookup(session.runtime, name), path), format_,
                    "secrets.SecretInfoReport", "inspecting secret: ")


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every secret.")
@click.argument("names", nargs=-1)
@click.pass_obj
def rm(session, all_, names):
    """Remove secrets; prints their ids."""
    from ..engine import secrets

    if all_ == bool(names):
        raise InvalidArgument("`podman secret rm` requires one argument, or --all" if not names else
                              "--all and secret names cannot be given together")
    code = 0
    for name in [s.id for s in session.runtime.store.secrets()] if all_ else names:
        try:
            click.echo(secrets.remove(session.runtime, name).id)
        except HuskError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = exc.exit_code
    if code:
        raise SystemExit(code)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.pass_obj
def exists(session, name):
    """Exit 0 when the secret exists, 1 when not (beyond podman 4.3)."""
    from ..define import NoSuchSecret
    from ..engine import secrets

    try:
        secrets.lookup(session.runtime, name)
    except NoSuchSecret:
        raise SystemExit(1)


def register(group: click.Group) -> None:
    secret_group = click.Group("secret", help="Manage secrets.", context_settings=CONTEXT)
    for command in (create, ls, inspect, rm, exists):
        secret_group.add_command(command)
    secret_group.add_command(ls, "list")
    group.add_command(secret_group)
