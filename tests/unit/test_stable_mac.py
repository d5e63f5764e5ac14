"""A container's MAC on a network stays what it was (issue 13): restoring a
checkpoint made by an older husk needs the same address, whichever SHA-256
implementation computes it (husk.engine.networking.stable_mac)."""

from __future__ import annotations

import hashlib

from husk.engine.networking import stable_mac


def test_the_mac_is_the_first_six_bytes_of_sha256_locally_administered():
    container_id, network_id = "c" * 64, "n" * 64
    digest = hashlib.sha256(f"{container_id}/{network_id}".encode()).digest()
    expected = ":".join(f"{b:02x}" for b in (0x02 | (digest[0] & 0xFC), *digest[1:6]))
    assert stable_mac(container_id, network_id) == expected
    assert stable_mac("a" * 64, "b" * 64) == "3e:6b:18:14:c7:4a"  # what husk has always given it
