"""husk's hooks for the shim v2 backends (see :mod:`husk_shimv2.backend`)."""

from husk.hooks import hookimpl
from husk.engine.oci_runtime import probe_binary

from .backend import RuncShim


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(RuncShim.binary):
        register(RuncShim.name, RuncShim)
