"""`stats`: containers' resource usage, as podman shows it (husk.presentation.stats).

Streams a report every `--interval` seconds until interrupted; on a terminal
each report replaces the last (the screen is cleared and the cursor sent
home, as podman draws it) unless `--no-reset`.  Without names it covers the
running containers (every one with `--all`), looked up again each round, so
containers started meanwhile appear.
"""

from __future__ import annotations

import json
import sys
import time

import click

from ..define import InvalidArgument, NoSuchContainer, State
from .common import CONTEXT

#: what podman (goterm) writes before each report on a terminal: clear the screen, cursor home
CLEAR = "\033[2J\033[1;1H"


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Every container, not only the running ones.")
@click.option("--format", "format_", default="", help="Go template (podman's fields: {{.ID}} {{.Name}} {{.CPUPerc}} "
              "{{.MemUsage}} {{.MemPerc}} {{.NetIO}} {{.BlockIO}} {{.PIDS}} ...), or json.")
@click.option("-i", "--interval", type=int, default=5, show_default=True, help="Seconds between reports.")
@click.option("-l", "--latest", is_flag=True, help="The container created last.")
@click.option("--no-reset", is_flag=True, help="Do not clear the screen between reports.")
@click.option("--no-stream", is_flag=True, help="One report, then exit.")
@click.option("--no-trunc", is_flag=True, help="Full container ids.")
@click.argument("names", nargs=-1)
@click.pass_obj
def stats(session, all_, format_, interval, latest, no_reset, no_stream, no_trunc, names):
    """Show containers' CPU, memory, network and block I/O, and PIDs."""
    from ..engine.stats import sample
    from ..presentation.stats import podman_report, podman_row

    if sum((all_, latest, bool(names))) > 1:
        raise InvalidArgument("--all, --latest and containers cannot be used together")
    if interval < 1:
        raise InvalidArgument("invalid interval, must be a positive number greater zero")
    runtime = session.runtime
    if latest:
        from .targets import latest_container

        names = (latest_container(session),)
    for name in names:  # every name must exist before anything is shown
        try:
            runtime.container(name)
        except NoSuchContainer as exc:
            raise NoSuchContainer(f"unable to get list of containers: unable to look up container {name}: {exc}")

    def report(previous: dict) -> tuple[list, dict]:
        containers = _selected(runtime, names, all_)
        current = {container.id: sample(container) for container in containers}
        rows = [podman_row(podman_report(container, current[container.id], previous.get(container.id)))
                for container in containers]
        if no_trunc:
            for row in rows:
                row["ID"] = row["ContainerID"]
        return rows, current

    stream_reports(report, lambda rows: _render(rows, format_), interval, no_stream, no_reset)


def stream_reports(report, render, interval: int, no_stream: bool, no_reset: bool) -> None:
    """Print a report every `interval` seconds until interrupted (one with
    --no-stream), as :func:`show_reports` does.  `report(previous samples)`
    gives the rows and this round's samples (CPU % is the change between two
    rounds)."""
    def rounds():
        previous: dict = {}
        while True:
            rows, previous = report(previous)
            yield rows
            time.sleep(interval)

    show_reports(rounds(), render, no_stream, no_reset)


def show_reports(rounds, render, no_stream: bool, no_reset: bool) -> None:
    """`render` each round's rows (only the first with --no-stream), local or from a service's
    stream; on a terminal each report replaces the last."""
    redraw = sys.stdout.isatty() and not no_reset and not no_stream
    for rows in rounds:
        if redraw:
            sys.stdout.write(CLEAR)
        sys.stdout.write(render(rows))
        sys.stdout.flush()
        if no_stream:
            return


def _selected(runtime, names, all_) -> list:
    if names:  # one removed since the last round ends the stream with its error, as podman's
        return [runtime.container(name) for name in names]
    containers = runtime.containers(errors=[])
    if not all_:
        for container in containers:
            container.sync_if_unlocked()
        containers = [c for c in containers if c.state.state in (State.RUNNING, State.PAUSED)]
    return sorted(containers, key=lambda c: c.name)


def _render(rows, format_: str) -> str:
    from ..presentation.stats import HEADERS, TABLE, podman_json

    if format_ == "json":
        return json.dumps([podman_json(row) for row in rows], indent=1) + "\n"
    from ..formats.template import format_rows

    return format_rows(format_ if format_ and format_ != "table" else TABLE, rows, HEADERS)


def register(group: click.Group) -> None:
    group.commands["container"].add_command(stats)
    group.add_command(stats)
