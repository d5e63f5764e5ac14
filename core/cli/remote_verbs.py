"""Which command answers a verb under a remote flag (--url, --connection, --remote): the remote
versions of :mod:`husk.cli.remote`, :mod:`husk.cli.remote_containers`,
:mod:`husk.cli.remote_images` and :mod:`husk.cli.remote_objects`, or one that says the verb
has none yet.
"""

from __future__ import annotations

import click

from ..define import InvalidArgument
from . import remote, remote_containers, remote_create, remote_images, remote_inventory, remote_objects
from .common import CONTEXT


#: the verbs of podman's `container` and `image` groups, by the top-level verbs they are
#: (`container ls` is `ps`, `image ls` is `images`, `image rm` is `rmi`); the verbs only a group has
#: (exists, prune, tree) are in husk.cli.remote_inventory
CONTAINER_VERBS = ("attach", "checkpoint", "commit", "cp", "create", "exec", "export", "init", "inspect", "kill",
                   "logs", "pause", "port", "ps", "rename", "restart", "restore", "rm", "run", "start", "stats", "stop",
                   "top", "unpause", "update", "wait")
IMAGE_VERBS = {"build": "build", "load": "load", "pull": "pull", "push": "push", "save": "save", "tag": "tag",
               "untag": "untag", "rm": "rmi", "ls": "images", "list": "images"}


def command(name: str, local: click.Command | None) -> click.Command | None:
    """The remote version of a verb; for a verb that has none, a command saying so.  Of `system`,
    `connection` stays local (it manages this host's destinations, as with podman --remote), and so
    do login and logout."""
    verbs = {**remote.COMMANDS, **remote_containers.COMMANDS, **remote_images.COMMANDS, **remote_objects.COMMANDS,
             **remote_inventory.COMMANDS}
    if name in ("run", "create", "container"):  # (their options are many: made only for them)
        verbs.update(remote_create.commands())
    if name == "manifest":
        from .remote_manifests import group

        return group()
    if name in verbs:
        if name in ("pod", "network"):  # create with the local verb's flags
            verbs[name].add_command(remote_create.group_create(name), "create")
        return verbs[name]
    if name == "container":
        group = _group(name, "Manage the service's containers.", {**{verb: verbs[verb] for verb in CONTAINER_VERBS},
                                                                   **remote_inventory.CONTAINER_COMMANDS})
        group.add_command(verbs["ps"], "ls")
        group.add_command(verbs["ps"], "list")
        return group
    if name in remote_inventory.GROUPS:
        return _group(name, f"The service's {name}.", remote_inventory.GROUPS[name])
    if name == "image":
        group = _group(name, "Manage the service's images.", {**{verb: verbs[top] for verb, top in IMAGE_VERBS.items()},
                                                               **remote_inventory.IMAGE_COMMANDS})
        group.add_command(remote_images.image_inspect)
        return group
    if local is None:
        return None
    if name in ("login", "logout"):
        return local  # as podman-remote: the credentials are the client's, in its own auth file
    if name == "system":
        group = click.Group("system", context_settings=CONTEXT, help=local.help)
        group.add_command(local.commands["connection"])
        for sub in local.commands:
            if sub != "connection":
                found = remote_inventory.SYSTEM_COMMANDS.get(sub) or verbs.get(sub)  # (events, info)
                group.add_command(found or _unsupported(f"system {sub}"), sub)
        return group
    return _unsupported(name)


def _unsupported(name: str) -> click.Command:
    @click.command(name, context_settings={**CONTEXT, "ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def unsupported(args):
        raise InvalidArgument(f"{name} is not supported remotely yet (run it on the service's host)")
    return unsupported


def _group(name: str, doc: str, commands: dict[str, click.Command]) -> click.Group:
    group = click.Group(name, help=doc, context_settings=CONTEXT)
    for verb, found in commands.items():
        group.add_command(found, verb)
    return group
