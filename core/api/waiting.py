"""`POST /containers/{id}/wait`: the conditions Docker defines, with the real exit code.

The exit code is taken from the container's own `died` event (every recorded
exit emits one, whoever records it), followed in the event log from just
before the request: so `removed` (what `docker run --rm` asks for) still
knows the code after the record is gone, and an exit that happens between the
state check and the wait is never missed.
"""

from __future__ import annotations

import asyncio
import threading

from ..define import NoSuchContainer, State
from . import blocking

_STILL_RUNNING = (State.CREATED, State.RUNNING, State.PAUSED)


async def wait_for(ctr, condition: str, since: float, stopping: asyncio.Event) -> tuple[int, str]:
    """(exit code, error message) once `condition` holds for `ctr`.

    not-running: now if the container is not running, else at its exit;
    next-exit: at the next exit after `since`; removed: once removed, with the
    code of its last exit.  Cancellation (the client left) or `stopping` (the
    service shuts down) ends the worker thread within a poll interval."""
    stop = threading.Event()
    try:
        return await blocking.run(_wait, ctr, condition, since, lambda: stop.is_set() or stopping.is_set())
    finally:
        stop.set()


def _wait(ctr, condition: str, since: float, should_stop) -> tuple[int, str]:
    try:
        ctr.reload()
        ctr.sync_if_unlocked()
    except NoSuchContainer:
        return ctr.state.exit_code, ""
    last_code = ctr.state.exit_code
    if condition == "not-running" and ctr.state.state not in _STILL_RUNNING:
        return last_code, ""
    events = ctr.runtime.events.follow(since=since, filters={"container": [ctr.id]}, should_stop=should_stop)
    for event in events:
        if event.id != ctr.id:
            continue
        if event.status == "died":
            code = event.attributes.get("containerExitCode", "")
            last_code = int(code) if code.lstrip("-").isdigit() else -1
            if condition != "removed":
                return last_code, ""
        elif event.status == "remove":
            return last_code, ""
    return last_code, "the wait ended before the condition was met (the service is stopping)"
