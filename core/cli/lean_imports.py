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

- decimal and uuid are first imported as stand-in modules (:class:`_StandIn`):
  msgspec._core takes ``decimal.Decimal`` and ``uuid.UUID`` at once (for its
  Decimal and UUID support, which husk never uses: no record holds either,
  and JSON decodes to str, int and float), and click.types subscripts its
  UUID parameter type with ``uuid.UUID`` (a type hint), a type husk's verbs
  do not use.  The real
  modules cost ~0.7 ms (decimal: the C extension and libmpdec) and ~1.5 ms
  (uuid: platform, whose import and uname it calls at once, and _uuid with
  libuuid).  A stand-in has no attributes of its own: the module-level code of
  msgspec (running msgspec._core's initialisation) and of click.types gets a
  class no value is an instance of; any other use (click's UUID type
  converting a value, anybody's ``uuid.uuid4()``) loads the real module and is
  answered from it, and from that use on, ``import`` finds the real module.  So in the CLI's process msgspec does not know real
  Decimals and UUIDs: encoding one is an error (or its ``enc_hook``: husk's
  JSON output passes ``str``, which writes the string msgspec would have
  written).

- click.core, click.decorators and click.termui import the stdlib's inspect
  (with ast, dis, tokenize and linecache: ~3-4 ms, a third of click's
  import) for ``inspect.cleandoc`` (every command's and option's help text,
  when it is built) and a few calls husk's read verbs never make
  (``isfunction`` for a dynamic default shown in --help, ``currentframe`` in
  ``version_option`` without a version, ``isgeneratorfunction`` in
  ``echo_via_pager``).  Those three modules alone, at their import, get the
  stand-in :data:`LEAN_INSPECT`: its :func:`cleandoc` is husk's own (the same
  result, tests/unit/test_lean_imports.py compares them), and any other
  attribute loads the real inspect and is answered from it.  The stand-in
  leaves ``sys.modules`` at the next import the finder sees, so anybody else
  (pluggy, on the lifecycle verbs) imports the real module.

The scope is the CLI's process, not ``import husk`` (and not the API service,
which `husk system service` runs in it: :func:`uninstall` first, so that its
msgspec takes the real decimal and uuid, and click the real inspect): an import hook is process-wide, and a program
using the Python API owns its process, where msgspec must behave as its
documentation says (typing_extensions' TypedDict, Decimal and UUID honoured)
and a one-time 6 ms in a long life does not matter.  msgspec._core also
imports datetime at once (for its datetime support): click has loaded it.
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

#: modules whose code runs at their first use, not at their import (see above)
DEFERRED = frozenset({"msgspec.inspect", "msgspec.msgpack", "msgspec.toml", "msgspec.yaml", "textwrap"})
#: module -> the classes msgspec._core and click.types take from it at their import, with the
#: attributes msgspec reads from them (SafeUUID.unknown): first imported as a stand-in (see above)
STAND_INS = {"decimal": {"Decimal": {}}, "uuid": {"UUID": {}, "SafeUUID": {"unknown": None}}}
#: stand-ins used once: their modules are imported for real from then on
_used: set[str] = set()


class LeanImports:
    """The import finder described in the module's docstring."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if sys.modules.get("inspect") is LEAN_INSPECT:  # handed to the click module importing it, to nobody else
            del sys.modules["inspect"]
        if name == "inspect":
            return ModuleSpec(name, _LeanInspectLoader) if _importer(sys._getframe(1)) in INSPECT_TAKERS else None
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
        if name in STAND_INS and name not in _used:
            return ModuleSpec(name, _StandIn)
        return None


#: the modules whose import takes a stand-in's class (msgspec's runs msgspec._core's
#: initialisation; click.types subscripts its ParamType with uuid.UUID)
_TAKERS = frozenset({"msgspec", "click.types"})


def _importer(frame) -> str | None:
    """The module whose module-level code is the caller, past the import
    system's frames (None for a caller inside a function)."""
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("_frozen_importlib", "importlib")):
        frame = frame.f_back
    return frame.f_globals.get("__name__") if frame is not None and frame.f_code.co_name == "<module>" else None


def _taking_its_class(frame) -> bool:
    """The caller is the module-level code of a module in :data:`_TAKERS`
    (msgspec._core is C: the caller seen is msgspec's ``from ._core import``)."""
    return _importer(frame) in _TAKERS


class _StandIn:
    """The loader of the stand-in modules described in the module's docstring."""

    @staticmethod
    def create_module(spec):
        return None

    @staticmethod
    def exec_module(module) -> None:
        name = module.__name__
        placeholders = {class_name: type(class_name, (), {
            **attributes, "__doc__": f"{name}.{class_name} as msgspec and click take it in husk's CLI: unused."})
            for class_name, attributes in STAND_INS[name].items()}

        def __getattr__(attribute):  # called for every attribute: the stand-in has none of its own
            if attribute in placeholders and _taking_its_class(sys._getframe(1)):
                return placeholders[attribute]
            _used.add(name)
            if sys.modules.get(name) is module:  # from now on `import` loads the real module
                del sys.modules[name]
            return getattr(__import__(name), attribute)

        module.__getattr__ = __getattr__


#: the modules of click importing inspect at their import: they get :data:`LEAN_INSPECT` (see above)
INSPECT_TAKERS = frozenset({"click.core", "click.decorators", "click.termui"})


def cleandoc(doc: str) -> str:
    """What ``inspect.cleandoc`` returns for *doc*: tabs expanded, the first
    line's leading whitespace and the other lines' common indentation (of
    those not blank) removed, and the empty lines at both ends dropped."""
    lines = doc.expandtabs().split("\n")
    margin = min((len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()), default=0)
    lines = [lines[0].lstrip(), *(line[margin:] for line in lines[1:])]
    first, end = 0, len(lines)
    while end and not lines[end - 1]:
        end -= 1
    while first < end and not lines[first]:
        first += 1
    return "\n".join(lines[first:end])


def _real_inspect(attribute: str):
    """Any attribute of the stand-in but cleandoc: the real module's (but the
    module attributes the import system looks for when it hands it out)."""
    if attribute.startswith("__"):
        raise AttributeError(attribute)
    if sys.modules.get("inspect") is LEAN_INSPECT:
        del sys.modules["inspect"]
    return getattr(__import__("inspect"), attribute)


#: click's inspect in the CLI's process (see above)
LEAN_INSPECT = ModuleType("inspect", "inspect as click's modules take it in husk's CLI: cleandoc, the rest delegated.")
LEAN_INSPECT.cleandoc = cleandoc
LEAN_INSPECT.__getattr__ = _real_inspect


class _LeanInspectLoader:
    """The loader handing out :data:`LEAN_INSPECT`."""

    @staticmethod
    def create_module(spec):
        return LEAN_INSPECT

    @staticmethod
    def exec_module(module) -> None:
        pass


def install() -> None:
    """Put :class:`LeanImports` first on ``sys.meta_path`` (once)."""
    if LeanImports not in sys.meta_path:
        sys.meta_path.insert(0, LeanImports)


def uninstall() -> None:
    """Take :class:`LeanImports` off ``sys.meta_path`` and the stand-ins out of
    ``sys.modules``, for a process that lives long (the API service, whose
    plugins and libraries may encode a UUID or a Decimal with msgspec): called
    before msgspec is imported, msgspec then takes the real classes.  A class
    taken already (click.types' ``uuid.UUID`` hint) stays a placeholder;
    click's modules get the real inspect instead of :data:`LEAN_INSPECT`."""
    if LeanImports in sys.meta_path:
        sys.meta_path.remove(LeanImports)
    if sys.modules.get("inspect") is LEAN_INSPECT:
        del sys.modules["inspect"]
    for name in INSPECT_TAKERS:
        module = sys.modules.get(name)
        if getattr(module, "inspect", None) is LEAN_INSPECT:
            module.inspect = __import__("inspect")
    for name in STAND_INS:
        _used.add(name)
        module = sys.modules.get(name)
        if module is not None and getattr(module.__spec__, "loader", None) is _StandIn:
            del sys.modules[name]
