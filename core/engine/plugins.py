"""Loading plugins, and a typed facade with one method per hook.

The rest of husk never calls ``pm.hook.x`` with loose keyword arguments: it
calls ``plugins.pre_init(container, spec)`` and gets a PluginFailure naming the
plugin when one raises.  Loading is guarded: a plugin that fails to import is
reported on stderr by name and left out, so one broken plugin never stops husk.
``HUSK_DISABLED_PLUGINS`` (comma separated) and the config's
``disabled_plugins`` block entry points by name.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
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
    def __init__(self, extra_modules: list[str] = (), disabled: list[str] = (), config: "Config | None" = None) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(spec)
        blocked = set(disabled) | {n for n in os.environ.get("HUSK_DISABLED_PLUGINS", "").split(",") if n}
        for name in blocked:
            self.pm.set_blocked(name)
        #: plugin name -> distribution version (or "" for modules named in config)
        self.versions: dict[str, str] = {}
        #: plugin name -> why it failed to load
        self.failed: dict[str, str] = {}
        self._load_entry_points(blocked)
        for module_name in extra_modules:
            self._load(module_name, lambda m=module_name: importlib.import_module(m), "")
        self.runtimes: dict[str, type[OCIRuntime]] = {}
        if config is None:
            from .config import Config

            config = Config()
        self._call("husk_register_runtimes", register=self._register_runtime, config=config)

    def _load_entry_points(self, blocked: set[str]) -> None:
        for name, value, version in _entry_points():
            if name in blocked or self.pm.get_plugin(name) is not None:
                continue
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
    paid by each lifecycle command), so the answer is cached in the user's
    cache directory, keyed by the path and mtime of each sys.path directory:
    installing or removing a distribution changes its directory's mtime."""
    import json
    import zlib

    key = [[path, os.stat(path).st_mtime_ns] for path in sys.path if path and os.path.isdir(path)]
    cache_dir = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "husk")
    # a file per sys.path: interpreters started differently (the husk script,
    # `python -m husk`, a test's `python -c`) would otherwise overwrite each other's
    digest = "%08x" % zlib.crc32(json.dumps([path for path, _ in key]).encode())
    cache_path = os.path.join(cache_dir, f"entry-points-{digest}.json")
    try:
        with open(cache_path, "rb") as handle:
            cached = json.load(handle)
        if cached["key"] == key:
            return [tuple(entry) for entry in cached["entries"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from importlib.metadata import entry_points

    entries = [(e.name, e.value, e.dist.version if e.dist else "") for e in entry_points(group=PROJECT)]
    try:
        os.makedirs(cache_dir, exist_ok=True)
        temporary = f"{cache_path}.{os.getpid()}"
        with open(temporary, "w") as handle:
            json.dump({"key": key, "entries": entries}, handle)
        os.replace(temporary, cache_path)
    except OSError:
        pass  # a read-only home: scan every time
    return entries


def _plugin_that_raised(hook, exc: BaseException) -> str:
    """Name the plugin whose hookimpl is on the exception's traceback."""
    functions = {impl.function.__code__: impl.plugin_name for impl in hook.get_hookimpls()}
    tb = exc.__traceback__
    name = "unknown"
    while tb is not None:
        name = functions.get(tb.tb_frame.f_code, name)
        tb = tb.tb_next
    return name
