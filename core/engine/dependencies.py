"""Container dependencies (`--requires`): the order to start them in, and who depends on whom.

A container's config lists the ids it depends on.  Starting it recursively
starts its dependencies first, deepest first, each once; a cycle is refused
with the path that closes it (create cannot make one, since a dependency must
exist before its dependent, but records from elsewhere could).  The graph is
read from the store without locks: each container is then started under its
own lock, which re-checks its state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..define import InvalidArgument, NoSuchContainer, State, StateInvalid

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime


def resolve(runtime: "Runtime", names: list[str]) -> list[str]:
    """The ids of the containers named by `--requires` (names or ids), each once."""
    ids: list[str] = []
    for name in names:
        if not name:
            raise InvalidArgument("--requires: an empty container name")
        try:
            container_id = runtime.store.lookup_container(name)
        except NoSuchContainer:
            raise NoSuchContainer(f"error looking up dependency container {name}: "
                                  f'no container with name or ID "{name}" found: no such container') from None
        if container_id not in ids:
            ids.append(container_id)
    return ids


def start_order(runtime: "Runtime", container_id: str) -> list[str]:
    """The ids of every container `container_id` depends on, directly or not, in
    an order that starts each after its own dependencies (it is not included).

    :raises StateInvalid: the dependencies form a cycle
    :raises NoSuchContainer: a dependency no longer exists
    """
    order: list[str] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(current: str) -> None:
        if current in done:
            return
        if current in path:
            cycle = path[path.index(current):] + [current]
            raise StateInvalid("dependency cycle between containers: " + " -> ".join(c[:12] for c in cycle),
                               improper=False)
        path.append(current)
        try:
            config = runtime.store.container_config(current)
        except NoSuchContainer:
            if len(path) == 1:
                raise
            raise StateInvalid(f"container {path[-2]} depends on container {current}, "
                               "which does not exist", improper=False) from None
        for dependency in config.dependencies:
            visit(dependency)
        path.pop()
        done.add(current)
        order.append(current)

    visit(container_id)
    order.pop()  # the container itself
    return order


def start_dependencies(runtime: "Runtime", container_id: str) -> None:
    """Start every container `container_id` depends on that is not running, in
    :func:`start_order` (`start` and `run` do this before the container itself)."""
    from ..define import AlreadyRunning

    for dependency_id in start_order(runtime, container_id):
        dependency = runtime.container(dependency_id)
        dependency.sync_if_unlocked()
        if dependency.state.state is State.RUNNING:
            continue
        try:
            dependency.start()
        except AlreadyRunning:
            pass  # started by someone else meanwhile


def dependents(runtime: "Runtime", container_id: str) -> list[str]:
    """The ids of the containers that depend directly on `container_id`."""
    return [config.id for config, _ in runtime.store.containers(errors=[]) if container_id in config.dependencies]


def check_dependencies(container: "Container", recursive: bool) -> None:
    """Every container `container` depends on must be running; with `recursive`, start
    the ones that are not, dependencies first (each under its own lock)."""
    if not container.config.dependencies:
        return
    if recursive:
        start_dependencies(container.runtime, container.id)
        return
    for dependency_id in container.config.dependencies:
        try:
            dependency = container.runtime.container(dependency_id)
        except NoSuchContainer:
            raise StateInvalid(f"container {container.id} depends on container {dependency_id}, "
                               "which does not exist", improper=False) from None
        dependency.sync_if_unlocked()
        if dependency.state.state is not State.RUNNING:
            raise StateInvalid(f"container {container.id} depends on container {dependency_id} "
                               "not being in running state", improper=False)
