"""containerd shim v2 runtimes as husk backends, driven without containerd.

Kept empty on purpose: the waiter (:mod:`husk_shimv2.waiter`) runs in a bare
``python -I -S`` beside every container and imports its siblings through
this package, so nothing here may import husk or pluggy.  The hook
implementations live in :mod:`husk_shimv2.plugin`.
"""
