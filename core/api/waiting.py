"""`POST /containers/{id}/wait`: the conditions Docker defines, with the real exit code.

The exit code is taken from the container's own `died` event (every recorded
exit emits one, whoever records it), followed in the event log from just
before the request: so `removed` (what `docker run --rm` asks for) still
knows the code after the record is gone, and an exit that happens between the
state check and the wait is never missed.  The wait itself is on the event
loop (husk.api.watch): no thread is held while the container runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os

from ..define import NoSuchContainer, State
from . import blocking
from .watch import Watcher

if TYPE_CHECKING:
    from ..engine.container import Container

_STILL_RUNNING = (State.CREATED, State.RUNNING, State.PAUSED)


async def wait_for(container: "Container", condition: str, since: float, watcher: Watcher) -> tuple[int, str]:
    """(exit code, error message) once `condition` holds for `ctr`.

    not-running: now if the container is not running, else at its exit;
    next-exit: at the next exit after `since`; removed: once removed, with the
    code of its last exit.  The service stopping ends the wait with a message."""
    try:
        state = await blocking.run(_current_state, container)
    except NoSuchContainer:
        return container.state.exit_code, ""
    last_code = container.state.exit_code
    if condition == "not-running" and state not in _STILL_RUNNING:
        return last_code, ""
    log = container.runtime.events
    with watcher.subscribe(os.path.dirname(log.path)) as changes:
        with log.tail(since=since, filters={"container": [container.id]}) as tail:
            events = await blocking.run(list, tail.backlog())
            while True:
                for event in events:
                    if event.id != container.id:
                        continue
                    if event.status == "died":
                        code = event.attributes.get("containerExitCode", "")
                        last_code = int(code) if code.lstrip("-").isdigit() else -1
                        if condition != "removed":
                            return last_code, ""
                    elif event.status == "remove":
                        return last_code, ""
                if watcher.stopped:
                    return last_code, "the wait ended before the condition was met (the service is stopping)"
                events = tail.new()
                if not events:
                    await changes.wait()


def _current_state(container: "Container") -> State:
    container.reload()
    container.sync_if_unlocked()
    return container.state.state
