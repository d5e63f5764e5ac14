"""`generate kube` (and `kube generate`): pods and containers as Kubernetes YAML
(see husk.presentation.kube)."""

from __future__ import annotations

import click

from ..define import InvalidArgument
from .common import CONTEXT


@click.command("kube", context_settings=CONTEXT)
@click.option("-s", "--service", is_flag=True, help="Add a Service for the published ports.")
@click.option("-f", "--filename", default="", help="Write the YAML to this file (default: stdout).")
@click.argument("names", nargs=-1)
@click.pass_obj
def kube(session, service, filename, names):
    """Print Kubernetes YAML (a Pod) for PODs or CONTAINERs."""
    from ..presentation.kube import generate

    if not names:
        raise InvalidArgument("you must provide at least one container or pod name or id")
    text = generate(session.runtime, list(names), service=service)
    if filename:
        with open(filename, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


def register(group: click.Group) -> None:
    generate_group = click.Group("generate", help="Generate structured data.", context_settings=CONTEXT)
    generate_group.add_command(kube)
    group.add_command(generate_group)
    kube_group = click.Group("kube", help="Kubernetes YAML.", context_settings=CONTEXT)
    kube_group.add_command(kube, "generate")
    group.add_command(kube_group)
