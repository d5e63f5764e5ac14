"""Loading plugins, and a typed facade with one method per hook.

The rest of husk never calls ``pm.hook.x`` with loose keyword arguments: it
calls ``plugins.pre_init(container, spec)`` and gets a PluginFailure naming the
plugin when one raises.  Loading is guarded: a plugin that fails to import is
reported on stderr by name and left out, so one broken plugin never stops husk.
``HUSK_DISABLED_PLUGINS`` (comma separated) and the config's
``disabled_plugins`` block entry points by name.

Loading every plugin costs a lifecycle command 15-30 ms, and most commands
(pause, unpause, kill, ...) need only the backend of their container's
runtime.  So each full load writes down which plugin registered which runtime
(a hint beside the entry-point cache), and :func:`hinted_runtime` imports that
one plugin and asks it alone; a hint that no longer holds falls back to the
full load.  Each full load also notes which hooks the plugins implement, so
that a command calling a hook no plugin implements (exec's, stop's, cleanup's
with the shipped plugins) loads none (:func:`unimplemented`), and one calling a
feature hook (checkpoint's, restore's) loads only the plugins implementing it
(:func:`implementers`, ``Plugins(only=...)``).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
import types
from typing import TYPE_CHECKING, Any

import pluggy

from husk.hooks import PROJECT, spec

from ..define import HuskError, InvalidArgument, NotImplementedByPlugin, PluginFailure

if TYPE_CHECKING:
    from .config import Config
    from .container import Container
    from .oci_runtime import OCIRuntime
    from ..network.backend import NetworkBackend
    from ..volumes.driver import VolumeDriver


class Plugins:
    def __init__(self, extra_modules: list[str] = (), disabled: list[str] = (), config: "Config | None" = None,
                 only: list[str] | None = None) -> None:
        """Every plugin, or with `only` just the plugins of those names (see
        :func:`implementers`): a partial load registers no runtimes and notes nothing."""
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(spec)
        blocked = _blocked(disabled)
        for name in blocked:
            self.pm.set_blocked(name)
        #: plugin name -> distribution version (or "" for modules named in config)
        self.versions: dict[str, str] = {}
        #: plugin name -> why it failed to load
        self.failed: dict[str, str] = {}
        #: plugin name -> what loads it ("module:attr", or a module named in config)
        self._references: dict[str, str] = {}
        if only is not None:
            blocked = blocked | {name for name, _, _ in _entry_points() if name not in only}
        self._load_entry_points(blocked)
        for module_name in extra_modules:
            if only is not None and module_name not in only:
                continue
            self._references[module_name] = module_name
            self._load(module_name, lambda m=module_name: importlib.import_module(m), "")
        self.runtimes: dict[str, type[OCIRuntime]] = {}
        if only is not None:
            return
        if config is None:
            from .config import Config

            config = Config()
        self._call("husk_register_runtimes", register=self._register_runtime, config=config)
        context = _hint_context(extra_modules, blocked)
        _save_runtime_hints(self._runtime_hints(), context)
        _save_hook_note(self._hook_note(), context)

    def _load_entry_points(self, blocked: set[str]) -> None:
        for name, value, version in _entry_points():
            if name in blocked or self.pm.get_plugin(name) is not None:
                continue
            self._references[name] = value
            self._load(name, lambda value=value: _load_object(value), version)

    def _load(self, name: str, loader, version: str) -> None:
        try:
            module = loader()
            self.pm.register(module, name=name)
        except Exception as exc:  # a broken plugin must not stop husk
            self.failed[name] = f"{type(exc).__name__}: {exc}"
            print(f"husk: plugin {name!r} failed to load and was skipped: {self.failed[name]}", file=sys.stderr)
            return
        self.versions[name] = version

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object directly (tests, programs embedding husk)."""
        self.pm.register(plugin, name=name)
        self.versions[self.pm.get_name(plugin)] = ""

    def _register_runtime(self, name: str, backend: "type[OCIRuntime]") -> None:
        if not name:
            raise InvalidArgument(f"a runtime backend ({backend!r}) was registered without a name")
        if name in self.runtimes:
            raise InvalidArgument(f"runtime {name!r} registered twice")
        self.runtimes[name] = backend

    def _runtime_hints(self) -> dict[str, list[str]]:
        """runtime name -> [plugin name, reference] of the plugin whose package
        holds the backend class (left out when that is not one plugin)."""
        packages: dict[str, list[str]] = {}
        for name, plugin in self.pm.list_name_plugin():
            if name in self._references:
                module = plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
                packages.setdefault(module.partition(".")[0], []).append(name)
        hints = {}
        for runtime, backend in self.runtimes.items():
            owners = packages.get(backend.__module__.partition(".")[0], [])
            if len(owners) == 1:
                hints[runtime] = [owners[0], self._references[owners[0]]]
        return hints

    def _hook_note(self) -> dict:
        """The hooks this load's plugins implement, and the files defining the
        plugins with their mtimes (an edited plugin may implement more now)."""
        files = set()
        for _, plugin in self.pm.list_name_plugin():
            module = plugin if isinstance(plugin, types.ModuleType) else sys.modules.get(type(plugin).__module__)
            files.add(getattr(module, "__file__", None) or "")
        callers = {name: caller for name, caller in vars(self.pm.hook).items() if name.startswith(PROJECT)}
        implementers = {name: sorted(impl.plugin_name for impl in caller.get_hookimpls())
                        for name, caller in sorted(callers.items()) if caller.get_hookimpls()}
        return {"hooks": sorted(implementers), "implementers": implementers,
                "files": [[path, _mtime(path)] for path in sorted(files)]}

    @functools.cached_property
    def network_backends(self) -> dict[str, "type[NetworkBackend]"]:
        """Network backends by name, asked for on first use (most commands need none)."""
        return self._registry("husk_register_network_backends", "network backend")

    @functools.cached_property
    def volume_drivers(self) -> dict[str, "type[VolumeDriver]"]:
        """Volume drivers by name, asked for on first use; husk's own `local` is
        registered through the hook like any plugin's."""
        from ..volumes import local

        self.pm.register(local, name="husk.volumes.local")
        return self._registry("husk_register_volume_drivers", "volume driver")

    def _registry(self, hook_name: str, kind: str) -> dict[str, type]:
        """What the plugins register through `hook_name`'s `register(name, cls)`
        callback, by name; an empty or repeated name is refused."""
        registered: dict[str, type] = {}

        def register(name: str, cls: type) -> None:
            if not name:
                raise InvalidArgument(f"a {kind} ({cls!r}) was registered without a name")
            if name in registered:
                raise InvalidArgument(f"{kind} {name!r} registered twice")
            registered[name] = cls
        self._call(hook_name, register=register)
        return registered

    def _call(self, hook_name: str, **kwargs: Any) -> Any:
        hook = getattr(self.pm.hook, hook_name)
        try:
            return hook(**kwargs)
        except Exception as exc:
            plugin = _plugin_that_raised(hook, exc)
            raise PluginFailure(f"plugin {plugin!r} failed in {hook_name}: {type(exc).__name__}: {exc}") from exc

    # -- the facade: one method per hook --------------------------------------------------
    def pre_init(self, container: "Container", spec: dict[str, Any]) -> None:
        self._call("husk_pre_init", container=container, spec=spec)

    def start(self, container: "Container") -> None:
        self._call("husk_start", container=container)

    def stop(self, container: "Container", timeout: int) -> None:
        self._call("husk_stop", container=container, timeout=timeout)

    def exec_session(self, container: "Container", session_id: str, command: list[str]) -> None:
        self._call("husk_exec_session", container=container, session_id=session_id, command=command)

    def attach(self, container: "Container") -> None:
        self._call("husk_attach", container=container)

    def cleanup(self, container: "Container") -> None:
        self._call("husk_cleanup", container=container)

    def _feature_call(self, hook_name: str, **kwargs: Any) -> Any:
        """A feature plugin's own HuskError (a refused option, a bad archive) is the
        user's message as it is; anything else names the plugin."""
        try:
            return self._call(hook_name, **kwargs)
        except PluginFailure as exc:
            if isinstance(exc.__cause__, HuskError) and not isinstance(exc.__cause__, PluginFailure):
                raise exc.__cause__ from None
            raise

    def checkpoint(self, container: "Container", options: dict[str, Any]) -> None:
        if not self._feature_call("husk_checkpoint", container=container, options=options):
            raise NotImplementedByPlugin("checkpointing needs a checkpoint plugin: install the husk-criu package")

    def restore(self, container: "Container | None", options: dict[str, Any]) -> Any:
        """With ``container`` None (an import), the plugin's answer is the new Container."""
        result = self._feature_call("husk_restore", container=container, options=options)
        if not result:
            raise NotImplementedByPlugin("restoring needs a checkpoint plugin: install the husk-criu package")
        return result


def hinted_runtime(name: str, extra_modules: list[str] = (), disabled: list[str] = (),
                   config: "Config | None" = None) -> "type[OCIRuntime] | None":
    """The backend class called `name`, from the one plugin that registered it
    at the last full load, imported and asked alone (no plugin manager, no other
    plugin).  None when there is no hint or it no longer holds (the plugin is
    blocked now, fails, or did not register `name` this time): the caller then
    loads every plugin, which also reports what went wrong."""
    context = _hint_context(extra_modules, _blocked(disabled))
    hint = (_read_cache("runtimes", context) or {}).get(name)
    if not hint or hint[0] in context["blocked"]:
        return None
    try:
        impl = getattr(_load_object(hint[1]), f"{PROJECT}_register_runtimes", None)
        marks = getattr(impl, f"{PROJECT}_impl", None)
        if marks is None or any(marks.get(key) for key in ("wrapper", "hookwrapper", "specname")):
            return None
        found: dict[str, type] = {}
        given = {"register": found.__setitem__, "config": config}
        code = impl.__code__
        wanted = code.co_varnames[:code.co_argcount][1 if inspect.ismethod(impl) else 0:]
        if not set(wanted) <= set(given):
            return None
        if "config" in wanted and config is None:
            from .config import Config

            given["config"] = Config()
        impl(**{argument: given[argument] for argument in wanted})
    except Exception:  # the full load names the plugin and the failure
        return None
    return found.get(name)


def unimplemented(hook_name: str, extra_modules: list[str] = (), disabled: list[str] = ()) -> bool:
    """Whether no plugin implements `hook_name`, as the last full load under the
    same plugins noted (nothing installed, blocked or edited since); False when
    unknown, and the caller loads the plugins and calls the hook."""
    note = _hook_note_now(extra_modules, disabled)
    return note is not None and hook_name not in note.get("hooks", [hook_name])


def implementers(hook_name: str, extra_modules: list[str] = (), disabled: list[str] = ()) -> list[str] | None:
    """The names of the plugins implementing `hook_name`, as the last full load
    under the same plugins noted; None when unknown or none does (the caller then
    loads every plugin, which also reports what is missing).  checkpoint and
    restore load these alone (the criu plugin): ``Plugins(only=...)``."""
    note = _hook_note_now(extra_modules, disabled)
    names = (note or {}).get("implementers", {}).get(hook_name)
    return list(names) if isinstance(names, list) and names else None


def _hook_note_now(extra_modules, disabled) -> dict | None:
    """The last full load's hook note, when it still holds (no plugin file edited since)."""
    note = _read_cache("hooks", _hint_context(extra_modules, _blocked(disabled)))
    if not isinstance(note, dict) or any(_mtime(path) != mtime for path, mtime in note.get("files", [[None, None]])):
        return None
    return note


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except (OSError, TypeError, ValueError):
        return -1


def _save_hook_note(note: dict, context: dict) -> None:
    if _read_cache("hooks", context) != note:
        _write_cache("hooks", context, note)


def _blocked(disabled) -> set[str]:
    return set(disabled) | {n for n in os.environ.get("HUSK_DISABLED_PLUGINS", "").split(",") if n}


def _hint_context(extra_modules, blocked: set[str]) -> dict:
    """What else decides which plugin registers a runtime: a hint made under
    other config modules or other blocked plugins is not used."""
    return {"extra": list(extra_modules), "blocked": sorted(blocked)}


def _save_runtime_hints(hints: dict, context: dict) -> None:
    if _read_cache("runtimes", context) != hints:
        _write_cache("runtimes", context, hints)


def _load_object(reference: str) -> object:
    """What an entry point's "module:attr" names (importlib.metadata itself costs 20 ms to import)."""
    module_name, _, attribute = reference.partition(":")
    target = importlib.import_module(module_name.strip())
    for part in filter(None, attribute.strip().split(".")):
        target = getattr(target, part)
    return target


def _entry_points() -> list[tuple[str, str, str]]:
    """(name, "module:attr", distribution version) of every entry point in group "husk".

    Asking importlib.metadata scans every installed distribution (about 20 ms,
    paid by each lifecycle command), so the answer is cached (see _cache_file)."""
    cached = _read_cache("entry-points", None)
    if cached is not None:
        return [tuple(entry) for entry in cached]
    from importlib.metadata import entry_points

    entries = [(e.name, e.value, e.dist.version if e.dist else "") for e in entry_points(group=PROJECT)]
    _write_cache("entry-points", None, entries)
    return entries


def _cache_file(kind: str) -> tuple[str, list]:
    """The cache file of `kind` in the user's cache directory, and its key: the
    path and mtime of each sys.path directory (installing or removing a
    distribution changes its directory's mtime).  A file per sys.path:
    interpreters started differently (the husk script, `python -m husk`, a
    test's `python -c`) would otherwise overwrite each other's."""
    import zlib

    import msgspec  # not json: msgspec is loaded already, json would cost every lifecycle command its import

    key = [[path, os.stat(path).st_mtime_ns] for path in sys.path if path and os.path.isdir(path)]
    cache_dir = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "husk")
    digest = "%08x" % zlib.crc32(msgspec.json.encode([path for path, _ in key]))
    return os.path.join(cache_dir, f"{kind}-{digest}.json"), key


def _read_cache(kind: str, context) -> Any:
    """The cached value of `kind` made under this key and `context`, or None."""
    import msgspec

    path, key = _cache_file(kind)
    try:
        with open(path, "rb") as handle:
            cached = msgspec.json.decode(handle.read())
        if cached["key"] == key and cached.get("context") == context:
            return cached["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


#: cache files of each kind kept: one is written per distinct sys.path, and a
#: test suite's temporary directories make thousands a day
_CACHE_KEEP = 64


def _write_cache(kind: str, context, entries) -> None:
    """Write the cache file of `kind`; a new file (a sys.path not seen, or
    pruned) prunes its kind to the newest _CACHE_KEEP, so the directory stays
    bounded at no cost to a read or a rewrite."""
    import json

    from ..state.atomic import replace_file

    path, key = _cache_file(kind)
    new = not os.path.exists(path)
    try:
        replace_file(path, json.dumps({"key": key, "context": context, "entries": entries}), make_parent=True)
    except OSError:
        return  # a read-only home: scan every time
    if new:
        _prune_cache(os.path.dirname(path), f"{kind}-")


def _prune_cache(cache_dir: str, prefix: str) -> None:
    """Remove the files named `prefix`<8 hex>.json beyond the newest _CACHE_KEEP
    (by mtime: a file pruned while still in use costs its interpreter one scan)."""
    files = []
    try:
        with os.scandir(cache_dir) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.name.endswith(".json") and len(entry.name) == len(prefix) + 13:
                    try:
                        files.append((entry.stat().st_mtime_ns, entry.path))
                    except OSError:
                        pass  # removed by another husk pruning at the same time
    except OSError:
        return
    files.sort(reverse=True)
    for _, old in files[_CACHE_KEEP:]:
        try:
            os.unlink(old)
        except OSError:
            pass


def _plugin_that_raised(hook, exc: BaseException) -> str:
    """Name the plugin whose hookimpl is on the exception's traceback."""
    functions = {impl.function.__code__: impl.plugin_name for impl in hook.get_hookimpls()}
    tb = exc.__traceback__
    name = "unknown"
    while tb is not None:
        name = functions.get(tb.tb_frame.f_code, name)
        tb = tb.tb_next
    return name
