"""Operations over several containers (`stop --all`, `rm -a`, `start a b c`).

One container runs in this process; several go through a `multiprocess` pool
so that slow stops overlap.  The pool uses the forkserver start method: its
workers fork from a clean server process, so none inherits this process's LMDB
handle (py-lmdb refuses to reuse one across a fork).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..define import EXIT_ENGINE, AlreadyRunning, AlreadyStopped, CorruptRecord, HuskError, NoSuchContainer

if TYPE_CHECKING:
    from ..engine.container import Container

#: (name as given, None or (message, exit code, whether the container was missing))
Outcome = tuple[str, "tuple[str, int, bool] | None"]
#: an outcome's "error" for a container left as it was, and not named (a start of a running one)
UNTOUCHED = ("", 0, False)
_MAX_WORKERS = 8
#: imported once by the pool's fork server, before it forks the workers: what a
#: job imports (the job function's module, and the engine a removal or stop
#: goes through).  Each worker importing them itself cost up to 8 x 40 ms of
#: CPU on `rm -a` (issue 20).
_PRELOAD = ("husk.cli.parallel", "husk.engine.runtime", "husk.engine.container", "husk.engine.lifecycle",
            "husk.engine.plugins", "husk.engine.volume_mounts", "husk.state.store", "husk.state.events",
            "husk.storage.rootfs", "husk.network.networks")


def _stop(container: "Container", timeout):
    """podman's CLI counts a container that is already stopped as stopped."""
    try:
        container.stop(timeout)
    except AlreadyStopped:
        pass


def _kill(container: "Container", signal):
    container.kill(signal)


def _start(container: "Container"):
    """podman's CLI leaves a running container be, silently (a paused one is an error)."""
    try:
        container.start(recursive=True)  # podman's `--requires`: dependencies are started first
    except AlreadyRunning:
        return UNTOUCHED


def _remove(container: "Container", force, timeout, volumes=False):
    container.remove(force=force, timeout=timeout, volumes=volumes)


def _restart(container: "Container", timeout):
    container.restart(timeout)


ACTIONS = {"stop": _stop, "kill": _kill, "start": _start, "remove": _remove, "restart": _restart,
           "pause": lambda container: container.pause(), "unpause": lambda container: container.unpause()}


#: a worker's Runtime, for the next job with the same arguments
_RUNTIME: list = [None, None]


def _runtime(runtime_args: tuple, settings: dict[str, Any]):
    """One Runtime per process and arguments, reused job after job: a new one
    would build its plugin manager again for each container (`rm -a` of 200
    containers spent more on that than on the removals)."""
    from ..engine.runtime import Runtime

    key = (os.getpid(), runtime_args, repr(sorted(settings.items())))
    if _RUNTIME[0] != key:
        _RUNTIME[:] = [key, Runtime(*runtime_args, **settings)]
    return _RUNTIME[1]


def _run_one(job: tuple[tuple, dict[str, Any], str, str, dict[str, Any]]) -> Outcome:
    runtime_args, settings, action, name, kwargs = job
    runtime = _runtime(runtime_args, settings)
    try:
        try:
            container = runtime.container(name)
        except CorruptRecord:
            if action != "remove" or not kwargs.get("force"):
                raise
            runtime.purge_container(name)  # rm -f is how a user gets rid of a corrupt record
            return name, None
        if ACTIONS[action](container, **kwargs) == UNTOUCHED:
            return name, UNTOUCHED
    except HuskError as exc:
        return _failed(name, exc)
    return name, None


def _failed(name: str, exc: HuskError) -> Outcome:
    return name, (str(exc), exc.exit_code, isinstance(exc, NoSuchContainer))


def run_here(items, action) -> Iterator[Outcome]:
    """Apply `action` to each item in this process, in order, as :func:`report`
    asks for them, so each line is printed as soon as it is known (wait's codes,
    mount's paths: what `action` returns)."""
    for item in items:
        try:
            yield str(action(item)), None
        except HuskError as exc:
            yield _failed(str(item), exc)


def run_each(session, action: str, names: list[str], **kwargs: Any) -> list[Outcome]:
    """Apply `action` to each container; return (name, error or None) in input order."""
    from .global_flags import settings

    runtime_args = (session.root, session.runroot, session.runtime_name)
    # the global flags' settings too (--events-backend, --runtime-flag, --hooks-dir), as the session's Runtime has them
    jobs = [(runtime_args, dict(settings()), action, name, kwargs) for name in names]
    if len(jobs) <= 1:
        return [_run_one(job) for job in jobs]
    import multiprocess

    context = multiprocess.get_context("forkserver")
    context.set_forkserver_preload(list(_PRELOAD))
    with context.Pool(min(len(jobs), _MAX_WORKERS)) as pool:
        return pool.map(_run_one, jobs, chunksize=1)


def report(outcomes: Iterable[Outcome], echo=True, ignore_missing=False, missing_exit_code=None) -> int:
    """Print each success (the name as given, or run_here's line) and each error; return the exit code
    (`missing_exit_code` for a missing container where podman has its own: rm's 1)."""
    import click

    code = 0
    for name, error in outcomes:
        if error is None:
            if echo:
                click.echo(name)
            continue
        message, exit_code, missing = error
        if (ignore_missing and missing) or error == UNTOUCHED:
            continue
        click.echo(f"Error: {message}", err=True)
        code = (missing_exit_code if missing and missing_exit_code else exit_code) or EXIT_ENGINE
    return code
