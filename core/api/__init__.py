"""husk's REST API service: the Docker Engine API and the libpod API on one socket.

`husk system service` runs it (see :mod:`husk.api.server`).  Every route is a
thin layer over :class:`husk.Runtime` and :class:`husk.Container`, as the CLI
is: no lifecycle step has a second implementation here.  aiohttp is imported
only by this package, so the CLI's common paths never pay for it.
"""
