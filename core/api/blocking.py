"""Running husk's blocking engine calls from the event loop.

The engine (locks, LMDB, runtime CLIs, monitors) is synchronous; handlers call
it through the loop's thread pool, so one slow container never stalls another
client.  Streams that the engine yields line by line (logs, events) are pumped
from a worker thread into the loop with a bounded queue, and the thread stops
as soon as the client is gone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()
_QUEUE_SIZE = 64


async def run(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` in the thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(function, *args, **kwargs))


async def iterate(make: Callable[[threading.Event], Iterator[T]]) -> AsyncIterator[T]:
    """Items of the blocking iterator `make(stop)` as they come.

    `stop` is set when the consumer leaves (client gone, handler cancelled);
    the iterator should check it wherever it waits, and the pump checks it
    between items, so no thread outlives its request for long."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(_QUEUE_SIZE)
    stop = threading.Event()

    def pump() -> None:
        try:
            for item in make(stop):
                if not _put(item):
                    return
            _put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(exc)

    def _put(item) -> bool:
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while True:
            try:
                future.result(timeout=0.25)
                return True
            except concurrent.futures.TimeoutError:
                if stop.is_set():
                    future.cancel()
                    return False
            except concurrent.futures.CancelledError:
                return False

    worker = loop.run_in_executor(None, pump)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not queue.empty():  # unblock a pump waiting on a full queue
            queue.get_nowait()
        worker.cancel()
