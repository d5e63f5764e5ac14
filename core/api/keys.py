"""The objects the service's handlers share, as typed aiohttp application keys."""

from __future__ import annotations

from aiohttp import web

#: the husk.Runtime every handler works on
RUNTIME = web.AppKey("runtime", object)
#: requests in flight and the time of the last one (the idle shutdown reads it)
ACTIVITY = web.AppKey("activity", object)
#: wakes followed logs, event streams and waits (husk.api.watch.Watcher); stopped at shutdown
WATCHER = web.AppKey("watcher", object)
#: the exec sessions, by id (they live as long as the service, as Docker's do)
EXECS = web.AppKey("execs", dict)
#: seconds a request body may send nothing before its read fails (the service's idle timeout)
BODY_TIMEOUT = web.AppKey("body_timeout", float)
