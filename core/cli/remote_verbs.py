"""Which command answers a verb under a remote flag (--url, --connection, --remote): the remote
versions of :mod:`husk.cli.remote`, :mod:`husk.cli.remote_containers`,
:mod:`husk.cli.remote_images` and :mod:`husk.cli.remote_objects`, or one that says the verb
has none yet.
"""

from __future__ import annotations

import click

from ..define import InvalidArgument
from . import remote, remote_containers, remote_images, remote_objects
from .common import CONTEXT


def command(name: str, local: click.Command | None) -> click.Command | None:
    """The remote version of a verb; for a verb that has none, a command saying so.  Of `system`,
    `connection` stays local (it manages this host's destinations, as with podman --remote)."""
    found = {**remote.COMMANDS, **remote_containers.COMMANDS, **remote_images.COMMANDS,
             **remote_objects.COMMANDS}.get(name)
    if found is not None:
        return found
    if local is None:
        return None
    if name == "system":
        group = click.Group("system", context_settings=CONTEXT, help=local.help)
        group.add_command(local.commands["connection"])
        for sub in local.commands:
            if sub != "connection":
                group.add_command(_unsupported(f"system {sub}"), sub)
        return group
    return _unsupported(name)


def _unsupported(name: str) -> click.Command:
    @click.command(name, context_settings={**CONTEXT, "ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def unsupported(args):
        raise InvalidArgument(f"{name} is not supported remotely yet (run it on the service's host)")
    return unsupported
