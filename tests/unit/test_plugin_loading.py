"""Plugin loading and the typed hook facade, with fake distributions.

As pluggy's own tests do, nothing is installed: ``importlib.metadata.entry_points``
is replaced by a function returning fake entry points whose modules are written
to a temporary directory, so these tests see exactly the plugins they made (not
the runc and crun backends installed in the venv).
"""

from __future__ import annotations

import inspect
import itertools
import os
import textwrap
import types
from dataclasses import dataclass

import pytest

from husk.engine import plugins
from husk.engine.config import Config
from husk.define import InvalidArgument, NotImplementedByPlugin, PluginFailure
from husk.hooks import spec
from husk.engine.oci_runtime import OCIRuntime
from husk.engine.plugins import Plugins
from husk.engine.runtime import Runtime

_unique = itertools.count()

FAKE_RUNTIME = '''
from husk.hooks import hookimpl
from husk.engine.oci_runtime import OCIRuntime

class Fake(OCIRuntime):
    name = "{runtime}"
    binary = "/bin/true"

@hookimpl
def husk_register_runtimes(register):
    register("{runtime}", Fake)
'''


@dataclass
class FakeDistribution:
    version: str


@dataclass
class FakeEntryPoint:
    """What Plugins reads from an entry point: name, dist (for the version), load()."""

    name: str
    value: str
    group: str = "husk"
    dist: FakeDistribution | None = None

    def load(self):
        import importlib

        return importlib.import_module(self.value)


@pytest.fixture
def distributions(monkeypatch, tmp_path):
    """install(name, source, version=...) adds a fake distribution whose entry
    point `name` (group husk) loads a module holding `source`."""
    import importlib.metadata

    monkeypatch.syspath_prepend(str(tmp_path))
    installed: list[FakeEntryPoint] = []

    def entry_points(**params):
        assert params == {"group": "husk"}, params
        return list(installed)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.delenv("HUSK_DISABLED_PLUGINS", raising=False)

    def install(name: str, source: str, version: str = "1.0") -> str:
        module_name = f"huskfake_{name.replace('-', '_')}_{next(_unique)}"
        (tmp_path / f"{module_name}.py").write_text(textwrap.dedent(source))
        installed.append(FakeEntryPoint(name, module_name, dist=FakeDistribution(version)))
        return module_name

    return install


def _container() -> types.SimpleNamespace:
    return types.SimpleNamespace(id="c" * 64, name="probe")


# -- loading --------------------------------------------------------------------------------
def test_entry_point_plugins_load_with_their_distribution_version(distributions):
    distributions("fakert", FAKE_RUNTIME.format(runtime="fakert"), version="2.5")
    plugins = Plugins()
    assert plugins.versions == {"fakert": "2.5"}
    assert plugins.failed == {}
    assert issubclass(plugins.runtimes["fakert"], OCIRuntime)


def test_plugin_that_fails_to_import_is_skipped_with_a_line_naming_it(distributions, capsys):
    distributions("broken", "raise ImportError('needs libfoo')\n")
    distributions("good", FAKE_RUNTIME.format(runtime="good"))
    plugins = Plugins()
    err = capsys.readouterr().err
    assert err == "husk: plugin 'broken' failed to load and was skipped: ImportError: needs libfoo\n"
    assert plugins.failed == {"broken": "ImportError: needs libfoo"}
    assert "broken" not in plugins.versions
    assert list(plugins.runtimes) == ["good"]


def test_plugin_with_an_unknown_hook_argument_is_skipped(distributions, capsys):
    distributions("typo", """
        from husk.hooks import hookimpl

        @hookimpl
        def husk_start(container, spec):
            pass
    """)
    plugins = Plugins()
    assert "typo" in plugins.failed
    assert "plugin 'typo' failed to load and was skipped: PluginValidationError" in capsys.readouterr().err


def test_husk_disabled_plugins_blocks_an_entry_point(distributions, monkeypatch, tmp_path):
    marker = tmp_path / "imported"
    distributions("blocked", f"open({str(marker)!r}, 'w').close()\n")
    distributions("kept", FAKE_RUNTIME.format(runtime="kept"))
    monkeypatch.setenv("HUSK_DISABLED_PLUGINS", "other,blocked")
    plugins = Plugins()
    assert not marker.exists(), "a blocked plugin must not even be imported"
    assert list(plugins.versions) == ["kept"] and plugins.failed == {}


def test_config_disabled_plugins_blocks_an_entry_point(distributions):
    distributions("one", FAKE_RUNTIME.format(runtime="one"))
    distributions("two", FAKE_RUNTIME.format(runtime="two"))
    plugins = Plugins(disabled=["one"])
    assert list(plugins.runtimes) == ["two"]


def test_config_plugins_loads_modules_by_name(distributions, tmp_path):
    (tmp_path / "husksite.py").write_text(FAKE_RUNTIME.format(runtime="site"))
    plugins = Plugins(extra_modules=["husksite"])
    assert plugins.versions == {"husksite": ""}
    assert "site" in plugins.runtimes


def test_register_runtimes_twice_is_refused(distributions):
    distributions("first", FAKE_RUNTIME.format(runtime="same"))
    distributions("second", FAKE_RUNTIME.format(runtime="same"))
    with pytest.raises(PluginFailure, match=r"plugin '(first|second)' failed in husk_register_runtimes: "
                                            r"InvalidArgument: runtime 'same' registered twice"):
        Plugins()


def test_register_runtimes_refuses_an_empty_name(distributions):
    distributions("nameless", FAKE_RUNTIME.format(runtime=""))
    with pytest.raises(PluginFailure, match="failed in husk_register_runtimes: InvalidArgument: a runtime backend .* without a name"):
        Plugins()


def test_register_runtimes_backend_is_selected_by_name(distributions, tmp_path):
    distributions("fakert", FAKE_RUNTIME.format(runtime="fakert"))
    runtime = Runtime(str(tmp_path / "root"), str(tmp_path / "run"), config=Config(runtime="fakert"))
    backend = runtime.oci_runtime()
    assert backend.name == "fakert"
    assert backend.state_root == str(tmp_path / "run" / "runtime" / "fakert")
    assert runtime.oci_runtime("fakert") is backend
    with pytest.raises(InvalidArgument, match="unknown OCI runtime 'runc'; available: fakert"):
        runtime.oci_runtime("runc")


def test_without_runtime_plugins_the_error_names_the_packages(distributions, tmp_path):
    runtime = Runtime(str(tmp_path / "root"), str(tmp_path / "run"), config=Config())
    with pytest.raises(InvalidArgument, match=r"available: none \(install husk-runc or husk-crun\)"):
        runtime.oci_runtime()


def test_checkpoint_and_restore_without_a_plugin_name_husk_criu(distributions):
    plugins = Plugins()
    with pytest.raises(NotImplementedByPlugin, match="install the husk-criu package"):
        plugins.checkpoint(_container(), {"keep": False})
    with pytest.raises(NotImplementedByPlugin, match="install the husk-criu package"):
        plugins.restore(_container(), {})


# -- the facade ---------------------------------------------------------------------------------
HOOK_NAMES = sorted(name for name in dir(spec) if name.startswith("husk_"))


@pytest.mark.parametrize("hook_name", [n for n in HOOK_NAMES if not n.startswith("husk_register_")])
def test_facade_method_takes_exactly_the_spec_arguments(hook_name):
    """The facade is the only caller of the hooks: its parameters must be the spec's."""
    facade = inspect.signature(getattr(Plugins, hook_name.removeprefix("husk_")))
    hook = inspect.signature(getattr(spec, hook_name))
    assert list(facade.parameters)[1:] == list(hook.parameters)


RECORDER = '''
from husk.hooks import hookimpl

calls = []

@hookimpl
def husk_pre_init(container, spec):
    spec["annotations"]["seen"] = container.name

@hookimpl
def husk_start(container):
    calls.append(("start", container.name))

@hookimpl
def husk_stop(container, timeout):
    calls.append(("stop", timeout))

@hookimpl
def husk_attach(container):
    calls.append(("attach", container.name))

@hookimpl
def husk_cleanup(container):
    calls.append(("cleanup", container.name))
    raise OSError("disk on fire")
'''


@pytest.fixture
def recorder(distributions):
    import importlib

    module_name = distributions("recorder", RECORDER)
    return Plugins(), importlib.import_module(module_name)


def test_pre_init_hook_edits_the_spec_in_place(recorder):
    plugins, _ = recorder
    oci_spec = {"annotations": {}}
    plugins.pre_init(_container(), oci_spec)
    assert oci_spec == {"annotations": {"seen": "probe"}}


def test_start_stop_attach_hooks_receive_the_spec_arguments(recorder):
    plugins, module = recorder
    plugins.start(_container())
    plugins.stop(_container(), 7)
    plugins.attach(_container())
    assert module.calls == [("start", "probe"), ("stop", 7), ("attach", "probe")]


def test_cleanup_hook_failure_names_the_plugin_and_hook(recorder):
    plugins, module = recorder
    with pytest.raises(PluginFailure, match=r"^plugin 'recorder' failed in husk_cleanup: OSError: disk on fire$"):
        plugins.cleanup(_container())
    assert module.calls == [("cleanup", "probe")]


CONFIGURED_RUNTIMES = '''
from husk.hooks import hookimpl
from husk.engine.oci_runtime import OCIRuntime

@hookimpl
def husk_register_runtimes(register, config):
    for name, binary in config.plugin_settings("{plugin}").get("runtimes", {{}}).items():
        register(name, type(name, (OCIRuntime,), {{"name": name, "binary": binary}}))
'''


def test_register_runtimes_sees_the_plugins_own_config_table(distributions, tmp_path):
    """husk.conf's [plugins.NAME] reaches husk_register_runtimes; later files override key by key."""
    from husk.engine.config import load

    distributions("confplug", CONFIGURED_RUNTIMES.format(plugin="confplug"))
    first, second = tmp_path / "a.conf", tmp_path / "b.conf"
    first.write_text('[plugins.confplug]\nruntimes = {one = "/bin/true"}\nother = 1\n')
    second.write_text('[plugins.confplug]\nruntimes = {two = "/bin/false"}\n')
    config = load([str(first), str(second)])
    assert config.plugin_settings("confplug") == {"runtimes": {"two": "/bin/false"}, "other": 1}
    assert config.plugin_settings("absent") == {}
    assert list(Plugins(config=config).runtimes) == ["two"]
    assert list(Plugins().runtimes) == []  # no config: the defaults, no tables
    (tmp_path / "bad.conf").write_text('plugins = ["x"]\n')
    with pytest.raises(InvalidArgument, match=r"bad.conf: \[plugins\] must hold one table per plugin"):
        load([str(tmp_path / "bad.conf")])


# -- the runtime hint: a command needing one backend loads one plugin --------------------------
CONDITIONAL_RUNTIME = '''
import os
from husk.hooks import hookimpl
from husk.engine.oci_runtime import OCIRuntime

class Fake(OCIRuntime):
    name = "{runtime}"
    binary = "/bin/true"

@hookimpl
def husk_register_runtimes(register, config):
    if not os.environ.get("HUSK_TEST_NO_{runtime}"):
        register("{runtime}", Fake)
'''


@pytest.fixture
def hints(distributions, monkeypatch, tmp_path):
    """An own cache directory (the hints live beside the entry-point cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return distributions


def test_a_full_load_leaves_a_hint_that_loads_only_the_runtime_s_plugin(hints):
    import sys

    from husk.engine.plugins import hinted_runtime

    wanted = hints("wanted", CONDITIONAL_RUNTIME.format(runtime="wanted"))
    other = hints("other", FAKE_RUNTIME.format(runtime="other"))
    assert hinted_runtime("wanted") is None  # no full load yet: no hint
    Plugins()
    sys.modules.pop(wanted), sys.modules.pop(other)
    backend = hinted_runtime("wanted", config=Config())
    assert backend.name == "wanted" and backend.__module__ == wanted
    assert other not in sys.modules


def test_a_hint_that_no_longer_holds_is_not_used(hints, monkeypatch):
    from husk.engine.plugins import hinted_runtime

    hints("gone", CONDITIONAL_RUNTIME.format(runtime="gone"))
    Plugins()
    assert hinted_runtime("gone") is not None
    monkeypatch.setenv("HUSK_TEST_NO_gone", "1")  # the plugin does not register it any more
    assert hinted_runtime("gone") is None
    monkeypatch.delenv("HUSK_TEST_NO_gone")
    monkeypatch.setenv("HUSK_DISABLED_PLUGINS", "gone")  # blocked since
    assert hinted_runtime("gone") is None
    assert hinted_runtime("never-registered") is None


def test_a_runtime_whose_hint_fails_falls_back_to_the_full_load(hints, monkeypatch, tmp_path):
    hints("flaky", CONDITIONAL_RUNTIME.format(runtime="flaky"))
    hints("steady", FAKE_RUNTIME.format(runtime="steady"))
    runtime = Runtime(str(tmp_path / "root"), str(tmp_path / "run"), config=Config())
    Plugins()
    monkeypatch.setenv("HUSK_TEST_NO_flaky", "1")
    with pytest.raises(InvalidArgument, match="unknown OCI runtime 'flaky'; available: steady"):
        runtime.oci_runtime("flaky")
    assert runtime.oci_runtime("steady").name == "steady"


# -- the hook note: a hook no plugin implements loads no plugin ---------------------------------
STOP_HOOK = '''
from husk.hooks import hookimpl

@hookimpl
def husk_stop(container, timeout):
    pass
'''


def test_a_full_load_notes_the_hooks_nobody_implements(hints):
    from husk.engine.plugins import unimplemented

    hints("stopper", STOP_HOOK)
    assert not unimplemented("husk_exec_session")  # no full load yet: unknown, so called
    Plugins()
    assert unimplemented("husk_exec_session") and unimplemented("husk_cleanup")
    assert not unimplemented("husk_stop")
    assert not unimplemented("husk_exec_session", extra_modules=["another"])  # noted under other plugins


def test_an_edited_plugin_voids_the_note(hints, tmp_path):
    import os

    from husk.engine.plugins import unimplemented

    module = hints("edited", STOP_HOOK)
    Plugins()
    assert unimplemented("husk_cleanup")
    path = tmp_path / f"{module}.py"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert not unimplemented("husk_cleanup")


def test_runtime_skips_loading_plugins_for_an_unimplemented_hook(hints, tmp_path):
    hints("stopper", STOP_HOOK)
    Plugins()
    runtime = Runtime(str(tmp_path / "root"), str(tmp_path / "run"), config=Config())
    runtime.call_plugins("cleanup", None)
    assert "plugins" not in runtime.__dict__
    runtime.call_plugins("stop", None, 1)  # implemented: the plugins are loaded and asked
    assert "plugins" in runtime.__dict__
    calls = []
    runtime.plugins.cleanup = calls.append  # once loaded, every hook is called through them
    runtime.call_plugins("cleanup", "c1")
    assert calls == ["c1"]


CHECKPOINT_HOOK = '''
from husk.hooks import hookimpl

@hookimpl
def husk_checkpoint(container, options):
    options["by"] = __name__
    return True
'''


def test_a_feature_hook_loads_only_the_plugins_that_implement_it(hints, tmp_path):
    """checkpoint and restore (Runtime.feature_plugins): once a full load has
    noted who implements the hook, only that plugin is imported and asked."""
    import sys

    from husk.engine.plugins import implementers

    dumper = hints("dumper", CHECKPOINT_HOOK)
    other = hints("other", STOP_HOOK)
    assert implementers("husk_checkpoint") is None  # no full load yet: unknown
    Plugins()
    assert implementers("husk_checkpoint") == ["dumper"] and implementers("husk_cleanup") is None
    sys.modules.pop(dumper), sys.modules.pop(other)
    runtime = Runtime(str(tmp_path / "root"), str(tmp_path / "run"), config=Config())
    options: dict = {}
    runtime.feature_plugins("checkpoint").checkpoint(_container(), options)
    assert options["by"] == dumper and other not in sys.modules
    assert "plugins" not in runtime.__dict__  # a partial load is not the runtime's plugins
    assert runtime.feature_plugins("checkpoint") is runtime.feature_plugins("checkpoint")  # loaded once per Runtime


# -- the cache directory stays bounded ------------------------------------------------------
def test_a_new_cache_file_keeps_its_kind_to_the_newest_few(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "husk"
    cache.mkdir()
    keep = plugins._CACHE_KEEP
    for number in range(keep + 10):  # older ones first
        old = cache / f"hooks-{number:08x}.json"
        old.write_text("{}")
        os.utime(old, ns=(number * 10**9, number * 10**9))
    others = [cache / "runtimes-0000abcd.json", cache / "unrelated", cache / ".hooks-00000000.json.1.2.tmp"]
    for other in others:
        other.write_text("{}")
        os.utime(other, ns=(0, 0))
    plugins._write_cache("hooks", {"c": 1}, {"n": 1})
    path, _ = plugins._cache_file("hooks")
    left = sorted(name for name in os.listdir(cache) if name.startswith("hooks-"))
    assert len(left) == keep and os.path.basename(path) in left
    assert f"hooks-{9:08x}.json" not in left and f"hooks-{11:08x}.json" in left  # the oldest went
    assert all(other.exists() for other in others)
    assert plugins._read_cache("hooks", {"c": 1}) == {"n": 1}
    # a rewrite of a file already there does not look at the directory
    monkeypatch.setattr(plugins, "_prune_cache", lambda *args: pytest.fail("pruned on a rewrite"))
    plugins._write_cache("hooks", {"c": 2}, {"n": 2})
