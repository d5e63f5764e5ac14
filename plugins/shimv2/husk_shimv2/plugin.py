"""husk's hooks for the shim v2 backends (see :mod:`husk_shimv2.backend`)."""

from husk.hooks import hookimpl
from husk.engine.oci_runtime import probe_binary

from .backend import Kata, KataShim, RuncShim, configured_runtimes


@hookimpl
def husk_register_runtimes(register, config):
    if probe_binary(RuncShim.binary):
        register(RuncShim.name, RuncShim)
    # kata is registered even when absent: its refusal says what is missing
    register(KataShim.name, KataShim)
    register(Kata.name, Kata)
    # shims named in husk.conf, registered even when absent: create says so
    for name, backend in configured_runtimes(config.plugin_settings("shimv2")).items():
        register(name, backend)
