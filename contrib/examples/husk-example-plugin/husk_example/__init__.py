"""An example third-party husk plugin (see docs/plugins.md).

It gives every container a greeting -- the value of the container's label
``greeting``, or ``hello`` -- as the environment variable ``HUSK_GREETING`` and
as an OCI annotation, and logs a line each time a container starts.  husk does
not configure Python logging, so the plugin sends its log to the file named by
``HUSK_EXAMPLE_LOG`` when that is set (and nowhere otherwise).
"""

import logging
import os

from husk.hooks import hookimpl

ANNOTATION = "org.example.husk.greeting"

log = logging.getLogger("husk_example")
if os.environ.get("HUSK_EXAMPLE_LOG"):
    _handler = logging.FileHandler(os.environ["HUSK_EXAMPLE_LOG"])
    _handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)


@hookimpl
def husk_pre_init(container, spec):
    """Edit the OCI spec in place: what we change is what the runtime receives."""
    greeting = container.config.labels.get("greeting", "hello")
    spec.setdefault("annotations", {})[ANNOTATION] = greeting
    spec["process"]["env"].append(f"HUSK_GREETING={greeting}")


@hookimpl
def husk_start(container):
    log.info("started %s (%s), pid %d", container.name, container.id[:12], container.state.pid)
