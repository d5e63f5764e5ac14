"""msgspec without the parts husk never runs, in the CLI's process (issue 20).

`import msgspec` (0.23) runs ``from . import inspect, json, msgpack, structs,
toml, yaml``: msgspec.inspect (type introspection), msgspec.json's schema
generator and its textwrap, and the MessagePack, TOML and YAML front ends,
none of which husk uses (it uses the core types, msgspec.json's encoder and
decoder, and msgspec.structs).  msgspec._utils, which msgspec._core imports,
also tries typing_extensions for get_type_hints.  Together about 3.5 ms of
every command that reads a record.

:class:`LeanImports`, first on ``sys.meta_path`` once :func:`install` ran,
handles both:

- a module in :data:`DEFERRED` is loaded through ``importlib.util.LazyLoader``:
  its module object exists at once (``from . import inspect`` and ``import
  textwrap`` bind it) and its code runs at the first attribute access, so a
  use of it still works, and pays then.  An ``import`` statement of it while
  it is deferred also runs it (the import system reads its ``__spec__``): so
  aiohttp's ``import textwrap`` runs textwrap in the API service, at import,
  in one thread (LazyLoader is not thread-safe before Python 3.12; husk itself
  never uses these modules).
- typing_extensions is reported missing to msgspec._utils alone, while it is
  importing: LazyLoader cannot serve there, as msgspec._utils takes names from
  it at once.  msgspec then uses typing's get_type_hints, Required and
  NotRequired (the same objects as typing_extensions' on Python 3.11), which
  is all that husk's records (plain typing annotations) need.  Anybody else
  (aiohttp, in the API service) finds typing_extensions as usual, and so does
  msgspec if it was imported before.

- decimal is given to msgspec._core alone, while it is importing, as a
  stand-in module: msgspec._core takes ``decimal.Decimal`` at once (for its
  Decimal support, which husk never uses: no record holds a Decimal, and JSON
  decodes to int and float), and the real module costs ~0.7 ms (the C
  extension and libmpdec).  The stand-in's Decimal is a class nobody
  instantiates, and the stand-in leaves ``sys.modules`` as msgspec takes it, so
  ``import decimal`` afterwards, by anybody, loads the real module.  So in the
  CLI's process msgspec does not know real Decimals: encoding one is an error
  (or its ``enc_hook``: husk's JSON output passes ``str``, which writes the
  string msgspec would have written).

The scope is the CLI's process (`husk system service` runs the API service in
it too), not ``import husk``: an import hook is process-wide, and a program
using the Python API owns its process, where msgspec must behave as its
documentation says (typing_extensions' TypedDict and Decimal honoured) and a
one-time 4 ms in a long life does not matter.  msgspec._core also imports uuid
and datetime at once (for its UUID and datetime support): click has loaded
them already.
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec

#: modules whose code runs at their first use, not at their import (see above)
DEFERRED = frozenset({"msgspec.inspect", "msgspec.msgpack", "msgspec.toml", "msgspec.yaml", "textwrap"})


class LeanImports:
    """The import finder described in the module's docstring."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in DEFERRED:
            from importlib.machinery import PathFinder
            from importlib.util import LazyLoader

            spec = PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = LazyLoader(spec.loader)
            return spec
        if name == "typing_extensions":
            utils = sys.modules.get("msgspec._utils")
            if utils is not None and not hasattr(utils, "get_type_hints"):  # msgspec._utils is importing it
                raise ModuleNotFoundError("not for msgspec in husk's CLI", name=name)
        if name == "decimal" and _msgspec_core_importing():
            return ModuleSpec(name, _DecimalStandIn)
        return None


def _msgspec_core_importing() -> bool:
    """msgspec's package is importing its first line, ``from ._core import ...``
    (msgspec._core imports decimal from its initialisation only)."""
    package = sys.modules.get("msgspec")
    return package is not None and not hasattr(package, "Struct") and "msgspec._core" not in sys.modules


class _DecimalStandIn:
    """The loader of the stand-in ``decimal`` described in the module's docstring."""

    class Decimal:
        """What msgspec._core takes for decimal.Decimal in husk's CLI: a class no value is an instance of."""

    @staticmethod
    def create_module(spec):
        return None

    @classmethod
    def exec_module(cls, module) -> None:
        def __getattr__(name):  # msgspec._core's one use: take Decimal, and so leave sys.modules
            if name != "Decimal":
                raise AttributeError(name)
            if sys.modules.get("decimal") is module:
                del sys.modules["decimal"]
            return cls.Decimal

        module.__getattr__ = __getattr__


def install() -> None:
    """Put :class:`LeanImports` first on ``sys.meta_path`` (once)."""
    if LeanImports not in sys.meta_path:
        sys.meta_path.insert(0, LeanImports)
