"""The network backend: what a plugin implements to connect containers to networks.

husk keeps the network definitions and hands out the addresses (IPAM); a
backend wires a network namespace to those networks and tears it down again.
Each call gets one document in podman's network types -- the JSON that
netavark reads, so a netavark backend passes it through and another backend
reads the same fields:

``options``::

    {"container_id": "<64 hex>", "container_name": "web", "container_hostname": "web",
     "networks": {"podman": {"interface_name": "eth0", "static_ips": ["10.88.0.2"],
                              "static_mac": "", "aliases": ["web"]}},
     "network_info": {"podman": {"name": "podman", "id": "<64 hex>", "driver": "bridge",
                                 "network_interface": "podman0",
                                 "subnets": [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}],
                                 "ipv6_enabled": false, "internal": false, "dns_enabled": false,
                                 "options": {}, "ipam_options": {"driver": "host-local"}}},
     "port_mappings": [{"host_ip": "127.0.0.1", "container_port": 80, "host_port": 8080,
                        "range": 1, "protocol": "tcp"}]}

``setup`` answers the status of each network, by network name::

    {"podman": {"interfaces": {"eth0": {"mac_address": "9e:ea:64:15:e4:41",
                                        "subnets": [{"ipnet": "10.88.0.2/16", "gateway": "10.88.0.1"}]}},
                "dns_server_ips": [], "dns_search_domains": []}}
"""

from __future__ import annotations


class NetworkBackend:
    """Subclass this and register the class from ``husk_register_network_backends``.

    :param run_dir: a private directory under husk's run root for the backend's
        own transient files (netavark keeps aardvark-dns's configuration there).
    """

    #: the name users select with ``[network] backend`` in husk.conf
    name = ""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir

    def setup(self, netns: str, options: dict) -> dict:
        """Connect the namespace at path `netns` to ``options["networks"]``;
        return each network's status.  Raise HuskError with the reason on failure
        (husk then tears down what was set up)."""
        raise NotImplementedError

    def teardown(self, netns: str, options: dict) -> None:
        """Undo :meth:`setup` for the same document: interfaces, firewall rules,
        forwarded ports; a bridge with no container left goes too."""
        raise NotImplementedError
