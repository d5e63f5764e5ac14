"""husk's hooks for the shim v2 backends (see :mod:`husk_shimv2.backend`)."""

from husk.hooks import hookimpl
from husk.engine.oci_runtime import probe_binary

from .backend import Kata, KataShim, RuncShim


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(RuncShim.binary):
        register(RuncShim.name, RuncShim)
    # kata is registered even when absent: its refusal says what is missing
    register(KataShim.name, KataShim)
    register(Kata.name, Kata)
