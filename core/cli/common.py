"""What every verb module shares: click's context settings, the names a verb
acts on, and running one action over several containers."""

from __future__ import annotations

import click

from ..define import InvalidArgument

CONTEXT = {"help_option_names": ["--help"], "max_content_width": 100}


def _show_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(ctx.get_help(), color=ctx.color)
        ctx.exit()


class LeanHelp:
    """A command's `--help` option as click's own (the same flag, text and
    place), built without asking gettext for its text: click translates it
    each time it builds one, and gettext's first lookup imports locale (its
    alias tables), ~3.5M instructions, 2% of a `ps -a` of 200 containers
    (issue 20).  Mixed into the root group and the read verbs (ps, inspect);
    a command without it has click's, which reads the same."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        names = self.get_help_option_names(ctx)
        if not names or not self.add_help_option:
            return None
        if getattr(self, "_husk_help", None) is None:  # one object per command: click orders callbacks by it
            self._husk_help = click.Option([*names, "_click_default_help"], is_flag=True, expose_value=False,
                                           is_eager=True, help="Show this message and exit.", callback=_show_help)
        return self._husk_help


class Command(LeanHelp, click.Command):
    """A verb with :class:`LeanHelp`'s `--help`."""


class Group(LeanHelp, click.Group):
    """A group of verbs with :class:`LeanHelp`'s `--help`."""


class DeferredOptions(LeanHelp, click.Command):
    """A command whose bulk of options is built when first asked for (parsing
    it, its help), not when its module is imported: `create` and `run` have
    some 150 options each, and the module's other verbs (ps, inspect, rm) do not
    pay for building them.  The options come after the command's other
    parameters, in the order the decorators would have given them.  Its
    `--help` is :class:`LeanHelp`'s: no create or run imports locale."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._deferred = getattr(self.callback, "__husk_deferred_options__", None)

    @property
    def params(self) -> list:
        if getattr(self, "_deferred", None) is not None:
            decorate, self._deferred = self._deferred, None

            def holder() -> None:
                """Collects the options (click's decorators memo them on the function)."""

            decorate(holder)
            self._params.extend(reversed(getattr(holder, "__click_params__", [])))
        return self._params

    @params.setter
    def params(self, value: list) -> None:
        self._params = value


def deferred(decorate):
    """Mark a command's callback: DECORATE (a stack of click options) is applied
    by :class:`DeferredOptions` when the options are first needed."""
    def mark(function):
        function.__husk_deferred_options__ = decorate
        return function

    return mark


def detach_keys_option(function):
    """attach's, run's and start's --detach-keys (here, not in husk.cli.attach: the
    container group's other verbs do not import the attach client for it)."""
    from ..presentation.terminal import DEFAULT_DETACH_KEYS

    return click.option("--detach-keys", default=DEFAULT_DETACH_KEYS, show_default=True,
                        help='Keys that detach and leave the container running ("" disables).')(function)


def sig_proxy_option(function):
    return click.option("--sig-proxy", type=click.BOOL, default=True, is_flag=False, flag_value=True,
                        show_default=True, help="Forward the signals husk receives to the container "
                        "(not with a TTY and stdin: ^C goes through the terminal).")(function)


def names_or_all(session, names, all_, states: tuple[str, ...] | None = None) -> list[str]:
    """The names given, or with --all the full ids of every container (in `states`).

    With --all the running and paused ones come first: the worker pool
    (husk.cli.parallel) starts jobs in this order, and their stops are the
    slow ones (up to the stop timeout), so they overlap the quick work on the
    others instead of starting after it (`rm -a -f` of 200 containers and a
    running one that ignores SIGTERM took the removals' time plus the 10 s)."""
    if all_ and names:
        raise InvalidArgument("--all and container names cannot be given together")
    if all_:
        from ..define import State

        errors: list = []  # corrupt records: --all covers them too, so that rm -af clears them
        chosen = [c for c in session.runtime.containers(errors) if states is None or c.state.state.value in states]
        chosen.sort(key=lambda c: c.state.state not in (State.RUNNING, State.PAUSED))
        return [c.id for c in chosen] + [e.container_id for e in errors if e.container_id]
    if not names:
        raise InvalidArgument("you must provide at least one name or id")  # podman's words
    return list(names)


def run_and_report(session, action, names, ignore_missing=False, missing_exit_code=None, **kwargs) -> None:
    """`action` on each container (see :mod:`husk.cli.parallel`), errors reported; exits with the code."""
    from .parallel import report, run_each

    code = report(run_each(session, action, names, **kwargs), ignore_missing=ignore_missing,
                  missing_exit_code=missing_exit_code)
    if code:
        raise SystemExit(code)
