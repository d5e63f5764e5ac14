"""Which containers a verb acts on: the names given, or podman's selectors
`--all`, `--latest`, `--cidfile FILE` and `--filter KEY=VALUE` (issue 12 item 3).

:func:`selectors` adds the flags podman 4.3 has on a verb; :func:`targets`
turns them into the list of names and ids the verb acts on.
"""

from __future__ import annotations

import click

from ..define import InvalidArgument


def selectors(*, latest: bool = True, cidfile: bool = False, filter_short: str | None = None,
              filter_: bool = False):
    """`-l/--latest`, `--cidfile` (repeatable), `--filter` (with `filter_short`, e.g. "-f")."""
    def decorate(function):
        if filter_:
            names = ([filter_short] if filter_short else []) + ["--filter"]
            function = click.option(*names, "filters", multiple=True,
                                    help="Act on the containers that match (ps's filters: name=, status=, label=, ...).")(function)
        if cidfile:
            function = click.option("--cidfile", "cidfiles", multiple=True,
                                    help="Read the container's id from this file (repeatable).")(function)
        if latest:
            function = click.option("-l", "--latest", is_flag=True,
                                    help="Act on the latest container husk knows of.")(function)
        return function
    return decorate


def targets(session, names, *, all_: bool = False, latest: bool = False, cidfiles=(), filters=(),
            states: tuple[str, ...] | None = None, need_one: bool = True) -> list[str]:
    """The containers named (and read from `cidfiles`), or the ones a selector picks."""
    from .common import names_or_all

    names = list(names) + [_read_cidfile(path) for path in cidfiles]
    chosen = [flag for flag, on in (("--all", all_), ("--latest", latest), ("--filter", bool(filters))) if on]
    if len(chosen) > 1 or (chosen and names):
        raise InvalidArgument(" and ".join(chosen + (["container names"] if names else [])) +
                              " cannot be used together")
    if latest:
        return [latest_container(session)]
    if filters:
        from ..presentation.filters import container_filter
        from .listing import _parse_filters

        matches = container_filter(_parse_filters(tuple(filters)))
        return [c.id for c in session.runtime.containers() if matches(c)]
    if not all_ and not names and not need_one:
        return []
    return names_or_all(session, names, all_, states=states)


def latest_container(session) -> str:
    """The id of the container created last (podman's --latest)."""
    containers = session.runtime.containers()
    if not containers:
        raise InvalidArgument("no containers to act on with --latest: there are none")
    return max(containers, key=lambda c: c.config.created).id


def _read_cidfile(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise InvalidArgument(f"reading CIDFile: {exc.strerror}: {path}") from None


def with_dependents(session, names: list[str]) -> list[str]:
    """`rm --depend`: the containers named and every container that depends on
    them (transitively), dependents first so that each removal is allowed."""
    everyone = session.runtime.containers()
    chosen: list[str] = []

    def visit(container_id: str) -> None:
        for other in everyone:
            if container_id in other.config.dependencies and other.id not in chosen:
                visit(other.id)
        if container_id not in chosen:
            chosen.append(container_id)

    for name in names:
        visit(session.runtime.container(name).id)
    return chosen
