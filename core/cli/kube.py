"""`generate kube` (and `kube generate`): pods and containers as Kubernetes YAML
(see husk.presentation.kube)."""

from __future__ import annotations

import click

from ..define import InvalidArgument
from .common import CONTEXT


@click.command("kube", context_settings=CONTEXT)
@click.option("-s", "--service", is_flag=True, help="Add a Service for the published ports.")
@click.option("-f", "--filename", default="", help="Write the YAML to this file (default: stdout).")
@click.option("-t", "--type", "kind", default="pod", help="pod, or deployment (beyond podman 4.3).")
@click.argument("names", nargs=-1)
@click.pass_obj
def kube(session, service, filename, kind, names):
    """Print Kubernetes YAML for PODs, CONTAINERs and VOLUMEs."""
    from ..presentation.kube import generate

    if not names:
        raise InvalidArgument("you must provide at least one container, pod or volume name or id")
    text = generate(session.runtime, list(names), service=service, kind=kind)
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
