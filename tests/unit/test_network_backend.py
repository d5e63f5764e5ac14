"""The network backend seam: a plugin registers a backend class through
husk_register_network_backends, and husk picks it (pure logic: no network)."""

from __future__ import annotations

import pytest

from husk.define import PluginFailure
from husk.engine.plugins import Plugins
from husk.hooks import hookimpl
from husk.network.backend import NetworkBackend


class ProbeBackend(NetworkBackend):
    name = "probe"

    def setup(self, netns, options):
        return {name: {"interfaces": {}} for name in options["networks"]}

    def teardown(self, netns, options):
        pass


class ProbePlugin:
    @hookimpl
    def husk_register_network_backends(self, register):
        register(ProbeBackend.name, ProbeBackend)


def _plugins(*extra) -> Plugins:
    plugins = Plugins(disabled=["netavark"])
    for plugin in extra:
        plugins.register(plugin)
    return plugins


def test_register_network_backends_adds_the_class():
    plugins = _plugins(ProbePlugin())
    assert plugins.network_backends == {"probe": ProbeBackend}


def test_register_network_backends_twice_names_the_plugin():
    with pytest.raises(PluginFailure, match="network backend 'probe' registered twice"):
        _plugins(ProbePlugin(), ProbePlugin()).network_backends


def test_netavark_registers_itself_when_installed():
    plugins = Plugins()
    assert plugins.network_backends["netavark"].name == "netavark"
