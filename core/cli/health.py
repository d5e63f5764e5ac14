"""Health checks on the command line: the run/create `--health-*` flags and
`husk healthcheck run NAME` (the verb the container's monitor runs at each
interval; see husk.engine.health)."""

from __future__ import annotations

import click

from .common import CONTEXT


def health_flags(function):
    """podman's health check flags on run and create."""
    options = [
        click.option("--health-cmd", default=None,
                     help='Command that checks the container\'s health: a shell command, or JSON\'s exec form '
                          '(\'["CMD", "ARG"]\'); "none" disables the image\'s check.'),
        click.option("--health-interval", default=None,
                     help='Time between checks (default 30s; "disable": no scheduled checks).'),
        click.option("--health-retries", type=int, default=None,
                     help="Consecutive failures that make the container unhealthy (default 3)."),
        click.option("--health-start-period", default=None,
                     help="Time the container has to start: failures before then do not count (default 0s)."),
        click.option("--health-timeout", default=None,
                     help="Time a check may take before it is killed and counted as failed (default 30s)."),
        click.option("--health-on-failure", default=None,
                     help="What to do when the container turns unhealthy: none (default), kill, restart, stop."),
        click.option("--no-healthcheck", is_flag=True, help="Disable the image's health check."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def health_settings(opts: dict) -> dict:
    """The flags' values as the engine takes them (checked now; see husk.engine.health.from_flags)."""
    from ..engine.health import from_flags

    return from_flags(opts["health_cmd"], interval=opts["health_interval"], retries=opts["health_retries"],
                      start_period=opts["health_start_period"], timeout=opts["health_timeout"],
                      on_failure=opts["health_on_failure"], disabled=opts["no_healthcheck"])


@click.group(context_settings=CONTEXT)
def healthcheck():
    """Manage health checks on containers."""


@healthcheck.command("run", context_settings=CONTEXT)
@click.argument("container")
@click.pass_obj
def run(session, container):
    """Run the container's health check once: nothing and exit 0 when it
    passes, `unhealthy` and exit 1 when it fails."""
    from ..define import NoSuchContainer
    from ..engine.health import run as run_check

    try:
        target = session.runtime.container(container)
    except NoSuchContainer as exc:
        raise NoSuchContainer(f"unable to look up {container} to perform a health check: {exc}") from None
    if not run_check(target):
        click.echo("unhealthy")
        raise SystemExit(1)


def register(group: click.Group) -> None:
    group.add_command(healthcheck)
