"""`system connection add/ls/rm/default/rename`: the named destinations that
`--connection NAME` (and `--remote`, the default one) use.

They live in husk's own config directory, $XDG_CONFIG_HOME/husk/connections.json
(~/.config by default), in the layout of podman's podman-connections.json:
{"Connection": {"Default": NAME, "Connections": {NAME: {"URI": ..., "Identity": ...}}}}.
The file is replaced whole (write, then rename), readable by its owner only.
"""

from __future__ import annotations

import json
import os

import click

from ..define import InvalidArgument
from .common import CONTEXT


def config_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "husk", "connections.json")


def load() -> tuple[dict[str, dict], str]:
    """(connections by name, the default's name)."""
    try:
        with open(config_path(), encoding="utf-8") as file:
            document = json.load(file).get("Connection") or {}
    except FileNotFoundError:
        return {}, ""
    except (ValueError, AttributeError) as exc:
        raise InvalidArgument(f"{config_path()}: not a connections file: {exc}") from None
    return dict(document.get("Connections") or {}), document.get("Default") or ""


def save(connections: dict[str, dict], default: str) -> None:
    from ..state.atomic import replace_file

    replace_file(config_path(), json.dumps({"Connection": {"Default": default, "Connections": connections}},
                                           indent=2) + "\n", durable=True, make_parent=True)


def _known(connections: dict, name: str) -> None:
    if name not in connections:
        raise InvalidArgument(f'connection "{name}" not found')


@click.group("connection", context_settings=CONTEXT)
def connection():
    """Manage the destinations of --connection and --remote."""


@connection.command(context_settings=CONTEXT)
@click.option("--identity", default="", help="ssh key file for an ssh:// destination.")
@click.option("-d", "--default", "make_default", is_flag=True, help="Make it the default connection.")
@click.option("-p", "--port", type=int, default=None, help="ssh port of a USER@HOST destination (default 22).")
@click.option("--socket-path", default="", help="The service's socket on a USER@HOST destination "
                                                "(default /run/husk/husk.sock).")
@click.argument("name")
@click.argument("destination")
def add(identity, make_default, port, socket_path, name, destination):
    """Record a destination: unix:///PATH, tcp://HOST:PORT, ssh://USER@HOST[:PORT]/PATH/TO/SOCKET,
    or USER@HOST with --port and --socket-path."""
    from .remote_transport import parse

    if socket_path and not socket_path.startswith("/"):
        raise InvalidArgument(f"--socket-path {socket_path}: not an absolute path")
    if "://" not in destination:
        destination = (f"ssh://{destination}" + (f":{port}" if port else "")
                       + (socket_path or "/run/husk/husk.sock"))
    elif port is not None or socket_path:
        raise InvalidArgument("--port and --socket-path go with a USER@HOST destination, not a URI")
    parse(destination)
    connections, default = load()
    entry = {"URI": destination}
    if identity:
        entry["Identity"] = os.path.abspath(identity)
    connections[name] = entry
    save(connections, name if make_default or not default else default)


@connection.command("list", context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template, or json.")
@click.option("-q", "--quiet", is_flag=True, help="Only the names.")
def list_(format_, quiet):
    """List the connections (alias: ls)."""
    from ..formats.template import format_rows

    connections, default = load()
    rows = [{"Name": name, "URI": entry.get("URI", ""), "Identity": entry.get("Identity", ""),
             "Default": name == default} for name, entry in sorted(connections.items())]
    if quiet:
        click.echo("".join(row["Name"] + "\n" for row in rows), nl=False)
    elif format_ == "json":
        click.echo(json.dumps(rows, indent=4))
    else:
        click.echo(format_rows(format_ or "table {{.Name}}\t{{.URI}}\t{{.Identity}}\t{{.Default}}", rows, {}),
                   nl=False)


@connection.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every connection.")
@click.argument("name", required=False)
def rm(all_, name):
    """Remove a connection (a missing one is no error, as in podman)."""
    if not all_ and not name:
        raise InvalidArgument("accepts 1 arg(s), received 0")
    connections, default = load()
    if all_:
        connections = {}
    else:
        connections.pop(name, None)
    save(connections, default if default in connections else next(iter(sorted(connections)), ""))


@connection.command("default", context_settings=CONTEXT)
@click.argument("name")
def default_(name):
    """Make NAME the default connection."""
    connections, _ = load()
    _known(connections, name)
    save(connections, name)


@connection.command(context_settings=CONTEXT)
@click.argument("old")
@click.argument("new")
def rename(old, new):
    """Rename a connection."""
    connections, default = load()
    _known(connections, old)
    connections[new] = connections.pop(old)
    save(connections, new if default == old else default)


def register(group: click.Group) -> None:
    connection.add_command(list_, "ls")
    group.commands["system"].add_command(connection)
