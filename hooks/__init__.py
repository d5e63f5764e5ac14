"""The whole contract a husk plugin author needs.

A plugin is a module (usually its own distribution with an entry point in group
``husk``) whose functions are marked with :data:`hookimpl` and named after a spec
in :mod:`husk.hooks.spec`::

    from husk.hooks import hookimpl

    @hookimpl
    def husk_pre_init(container, spec):
        spec["process"]["env"].append("GREETING=hello")

husk loads every entry point of group ``husk``; ``HUSK_DISABLED_PLUGINS`` (comma
separated names) blocks some, and ``husk info`` lists what is loaded.
"""

import pluggy

PROJECT = "husk"

#: Marks a plugin's implementation of a hook.
hookimpl = pluggy.HookimplMarker(PROJECT)
#: Marks a hook specification (used by husk.hooks.spec only).
hookspec = pluggy.HookspecMarker(PROJECT)

__all__ = ["PROJECT", "hookimpl", "hookspec"]
