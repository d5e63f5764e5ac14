"""Waking the service's long waits (event streams, followed logs, waits) from the event loop.

Every wait in the service is for a file to change: the events log (every
transition appends to it), a container's log.  One inotify descriptor for the
whole service, read by the event loop (`loop.add_reader`), wakes the waiters
of a directory when something in it is written; each waiter then reads what
is new itself.  So an open stream costs no thread and no descriptor of its
own, and a thousand of them cost nothing while nothing happens (a thread
each, polling, was the limit before).  At shutdown `stop()` wakes everyone,
and they end.
"""

from __future__ import annotations

import asyncio
import os

from ..engine.waiting import IN_CLOSE_WRITE, IN_CREATE, IN_MODIFY, IN_MOVED_TO, Inotify

_MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
#: the watch descriptor of IN_Q_OVERFLOW: events were lost, wake everyone
_OVERFLOW = -1


class Watcher:
    """The service's inotify descriptor, and who waits on which directory."""

    def __init__(self) -> None:
        self.inotify: Inotify | None = None
        self.stopped = False
        self._directories: dict[str, int] = {}
        self._waiters: dict[int, set["Subscription"]] = {}

    def subscribe(self, *directories: str) -> "Subscription":
        """A subscription to changes in `directories` (created if missing);
        take it before reading what is there, so no change is missed."""
        subscription = Subscription(self)
        for directory in directories:
            wd = self._directories.get(directory)
            if wd is None:
                os.makedirs(directory, mode=0o700, exist_ok=True)
                wd = self._directories[directory] = self.inotify.watch(directory, _MASK)
            self._waiters.setdefault(wd, set()).add(subscription)
            subscription.watches.append(wd)
        return subscription

    def _leave(self, subscription: "Subscription") -> None:
        for wd in subscription.watches:
            waiters = self._waiters.get(wd)
            if waiters is None:
                continue
            waiters.discard(subscription)
            if not waiters:  # nobody waits on this directory any more
                del self._waiters[wd]
                self._directories = {d: w for d, w in self._directories.items() if w != wd}
                if self.inotify is not None:
                    self.inotify.unwatch(wd)

    def _readable(self) -> None:
        watches = self.inotify.read_watches()
        if _OVERFLOW in watches:
            watches = set(self._waiters)
        for wd in watches:
            for subscription in self._waiters.get(wd, ()):
                subscription.changed.set()

    def stop(self) -> None:
        """The service is stopping: every wait ends now, and every later one at once."""
        self.stopped = True
        for waiters in self._waiters.values():
            for subscription in waiters:
                subscription.changed.set()

    async def start(self, app=None) -> None:
        """With the service (an aiohttp on_startup hook): the descriptor, on the loop."""
        self.inotify = Inotify()
        asyncio.get_running_loop().add_reader(self.inotify.fd, self._readable)

    async def close(self, app=None) -> None:
        """With the service (an aiohttp on_cleanup hook)."""
        if self.inotify is not None:
            asyncio.get_running_loop().remove_reader(self.inotify.fd)
            self.inotify.close()
            self.inotify = None


class Subscription:
    """One waiter's interest in a few directories; a context manager."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.watches: list[int] = []
        self.changed = asyncio.Event()

    async def wait(self, timeout: float | None = None) -> None:
        """Until something changed since the last wait (or the subscription
        began), the service stops, or `timeout` seconds pass."""
        if not self.watcher.stopped:
            try:
                async with asyncio.timeout(timeout):
                    await self.changed.wait()
            except TimeoutError:
                pass
        self.changed.clear()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.watcher._leave(self)
