"""The documents of volumes, networks and pods as their `inspect` verbs and
`inspect --type` print them, looked up by name; a missing one is its kind's
error in podman 4.3's words (the verbs add `inspecting object: `)."""

from __future__ import annotations

from ..define import HuskError, NoSuchNetwork, NoSuchPod, NoSuchVolume

#: the Go fields of podman's types.Network and types.Subnet, which a template names (the JSON keys are lower case)
NETWORK_GO_NAMES = {"name": "Name", "id": "ID", "driver": "Driver", "network_interface": "NetworkInterface",
                    "created": "Created", "subnets": "Subnets", "ipv6_enabled": "IPv6Enabled", "internal": "Internal",
                    "dns_enabled": "DNSEnabled", "labels": "Labels", "options": "Options",
                    "ipam_options": "IPAMOptions", "subnet": "Subnet", "gateway": "Gateway",
                    "lease_range": "LeaseRange", "start_ip": "StartIP", "end_ip": "EndIP"}
#: a network document's fields that are Go maps
NETWORK_MAP_FIELDS = frozenset({"labels", "options", "ipam_options"})


def volume_document(runtime, name: str) -> dict:
    """`volume inspect`'s document of a volume (`inspect --type volume`'s too); a
    missing one is NoSuchVolume in podman's words."""
    from ..presentation.volumes import podman_document

    try:
        return podman_document(runtime, runtime.volumes.get(name))
    except NoSuchVolume:
        raise NoSuchVolume(f"no such volume {name}") from None


def network_document(runtime, name: str) -> dict:
    """`network inspect`'s document of a network (`inspect --type network`'s too);
    a failed lookup is reported as podman does (`network NAME: ...`)."""
    from ..engine import networking
    from ..network.networks import document

    try:
        return document(networking.lookup(runtime, name))
    except HuskError as exc:
        raise (NoSuchNetwork if isinstance(exc, NoSuchNetwork) else HuskError)(f"network {name}: {exc}") from None


def pod_document(runtime, name: str) -> dict:
    """`pod inspect`'s document of a pod (`inspect --type pod`'s too); a missing
    one is NoSuchPod in podman's words."""
    from ..engine.pods import get_pod
    from ..presentation.pods import inspect_document

    try:
        return inspect_document(get_pod(runtime, name))
    except NoSuchPod:
        raise NoSuchPod(f"no such pod {name}") from None


#: `inspect --type KIND` of the kinds above: (the document of a runtime's name, the Go
#: struct a template sees, its map fields, its Go names where they differ from the JSON keys)
OTHER_KINDS = {
    "volume": (volume_document, "define.InspectVolumeData", frozenset({"Labels", "Options"}), None),
    "network": (network_document, "types.Network", NETWORK_MAP_FIELDS, NETWORK_GO_NAMES),
    "pod": (pod_document, "define.InspectPodData", frozenset({"Labels", "Options"}), None),
}
