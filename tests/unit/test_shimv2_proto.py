"""The shim v2 plugin's wire formats: protobuf, ttrpc framing, the shim's bootstrap output."""

import json

import pytest

from husk_shimv2 import proto, shim, ttrpc


@pytest.mark.parametrize("value, encoded", [
    (0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
    ((1 << 64) - 1, b"\xff" * 9 + b"\x01"),
    (-1, b"\xff" * 9 + b"\x01"),  # negative ints are 64-bit two's complement
])
def test_varints_encode_as_protobuf_does(value, encoded):
    assert proto.varint(value) == encoded
    assert proto.read_varint(encoded + b"rest", 0) == (value % (1 << 64), len(encoded))


def test_a_message_encodes_field_by_field_and_leaves_defaults_out():
    # CreateTaskRequest{id: "c1", terminal: true, stdout: "/f"}; empty, zero and false fields omitted
    message = proto.encode([(1, "c1"), (2, ""), (4, True), (5, None), (6, "/f"), (9, 0), (3, False)])
    assert message == b"\x0a\x02c1" + b"\x20\x01" + b"\x32\x02/f"
    assert proto.decode(message) == {1: [b"c1"], 4: [1], 6: [b"/f"]}


def test_nested_messages_and_any():
    options = shim.runc_options("/run/x")
    encoded = proto.encode([(10, options)])
    outer = proto.decode(encoded)
    any_fields = proto.decode(outer[10][0])
    assert proto.text(any_fields, 1) == "containerd.runc.v1.Options"
    assert proto.text(proto.decode(proto.first(any_fields, 2)), 7) == "/run/x"


def test_kata_options_carry_the_config_path():
    fields = proto.decode(proto.encode(shim.kata_options("/etc/kata/configuration.toml")))
    assert proto.text(fields, 1) == "runtimeoptions.v1.Options"
    assert proto.text(proto.decode(proto.first(fields, 2)), 2) == "/etc/kata/configuration.toml"


def test_decoding_skips_fixed_width_fields_and_keeps_the_last_scalar():
    data = bytes([0x09]) + (7).to_bytes(8, "little") + bytes([0x15]) + (9).to_bytes(4, "little") + b"\x18\x01\x18\x02"
    fields = proto.decode(data)
    assert fields[1] == [7] and fields[2] == [9] and proto.first(fields, 3) == 2


@pytest.mark.parametrize("data", [
    b"\x80",                # varint cut short
    b"\x0a\x05abc",          # length past the end
    b"\x0b",                 # group wire type
    b"\x00\x01",             # field number 0
    b"\xff" * 11,            # overlong varint
    b"\x09\x01\x02",         # fixed64 cut short
])
def test_malformed_messages_are_refused(data):
    with pytest.raises(ValueError):
        proto.decode(data)


def test_ttrpc_request_and_header():
    body = ttrpc.request("containerd.task.v2.Task", "State", b"\x0a\x02c1")
    fields = proto.decode(body)
    assert (proto.text(fields, 1), proto.text(fields, 2), proto.first(fields, 3)) == (
        "containerd.task.v2.Task", "State", b"\x0a\x02c1")
    header = ttrpc.header(len(body), 3, ttrpc.TYPE_REQUEST)
    assert len(header) == ttrpc.HEADER_SIZE
    assert header[:4] == len(body).to_bytes(4, "big") and header[4:8] == b"\0\0\0\3" and header[8:] == b"\1\0"
    assert ttrpc.parse_header(header) == (len(body), 3, 1, 0)


def test_ttrpc_response_payload_and_error_status():
    assert ttrpc.response_payload(proto.encode([(2, b"\x08\x2a")])) == b"\x08\x2a"
    status = proto.encode([(1, ttrpc.NOT_FOUND), (2, "container c1: not found")])
    with pytest.raises(ttrpc.TtrpcError) as caught:
        ttrpc.response_payload(proto.encode([(1, status)]))
    assert caught.value.code == ttrpc.NOT_FOUND and str(caught.value) == "container c1: not found"


def test_ttrpc_socket_paths():
    assert ttrpc.socket_path("unix:///run/containerd/s/ab\n") == "/run/containerd/s/ab"
    assert ttrpc.socket_path("/run/x.sock") == "/run/x.sock"
    with pytest.raises(ValueError):
        ttrpc.socket_path("vsock://3:1024")


def test_bootstrap_outputs_of_the_three_containerd_generations():
    # up to 1.7: a plain address (task v2)
    assert shim.parse_bootstrap(b"unix:///run/containerd/s/0123\n") == ("unix:///run/containerd/s/0123",
                                                                        shim.SERVICE_V2)
    # 2.0 to 2.2: JSON (task v3)
    document = json.dumps({"version": 3, "address": "unix:///run/s/1", "protocol": "ttrpc"}).encode()
    assert shim.parse_bootstrap(document) == ("unix:///run/s/1", shim.SERVICE_V3)
    # 2.3 on: a protobuf BootstrapResult whose string field is the address
    result = proto.encode([(1, 3), (2, "unix:///run/s/2"), (3, "ttrpc")])
    assert shim.parse_bootstrap(result) == ("unix:///run/s/2", shim.SERVICE_V3)


@pytest.mark.parametrize("output", [b"", b"garbage", b'{"version": 3}',
                                    json.dumps({"version": 3, "address": "x", "protocol": "grpc"}).encode()])
def test_bootstrap_without_a_ttrpc_address_is_refused(output):
    with pytest.raises(shim.ShimError):
        shim.parse_bootstrap(output)


def test_kata_names_its_config_and_what_is_missing(tmp_path, monkeypatch):
    from husk_shimv2 import backend

    config = tmp_path / "configuration.toml"
    config.write_text('[hypervisor.qemu]\npath = "/nonexistent/qemu-system-x86_64"\n')
    monkeypatch.setattr(backend, "KATA_CONFIGS", ("/nonexistent/configuration.toml", str(config)))
    kata = backend.Kata(str(tmp_path / "state"))
    assert kata.config_path == str(config)
    any_fields = proto.decode(proto.encode(kata.options()))
    assert proto.text(proto.decode(proto.first(any_fields, 2)), 2) == str(config)
    missing = kata.missing()
    assert any("/nonexistent/qemu-system-x86_64" in item for item in missing)
    monkeypatch.setattr(backend, "KATA_CONFIGS", ("/nonexistent/configuration.toml",))
    assert any("configuration.toml" in item for item in kata.missing())


FAKE_SHIM_2_3 = '''#!{python}
"""A shim built on containerd 2.3 as far as its start goes: BootstrapParams on
stdin (matching -id and -namespace) or the refusal, a BootstrapResult out."""
import json, os, sys
sys.path.insert(0, {package!r})
from husk_shimv2 import proto
args = sys.argv[1:]
data = sys.stdin.buffer.read()
if not data:
    sys.stderr.write("containerd-shim-fake-v2: shim was started through the deprecated API but was built "
                     "against the new API; if you upgraded containerd, you may need to restart the daemon")
    sys.exit(1)
params = proto.decode(data)
assert proto.text(params, 1) == args[args.index("-id") + 1] and proto.text(params, 2) == args[args.index("-namespace") + 1]
with open("params.txt", "w") as handle:
    json.dump({{number: [v.decode() for v in values] for number, values in params.items()}}, handle)
sys.stdout.buffer.write(proto.encode([(1, 3), (2, "unix:///run/fake.sock"), (3, "ttrpc")]))
'''


def test_a_shim_built_on_containerd_2_3_gets_bootstrap_params_on_stdin(tmp_path):
    """Asked plainly first (what older shims want), it refuses; asked again with
    BootstrapParams{instance_id, namespace, ttrpc address, grpc address, binary}."""
    import os
    import sys

    binary = tmp_path / "containerd-shim-fake-v2"
    binary.write_text(FAKE_SHIM_2_3.format(python=sys.executable,
                                           package=os.path.dirname(os.path.dirname(proto.__file__))))
    binary.chmod(0o755)
    bundle = tmp_path / "c1"
    bundle.mkdir()
    assert shim.start_shim(str(binary), "husk", "/run/x/containerd.sock", "c1", str(bundle), "events") == \
        ("unix:///run/fake.sock", shim.SERVICE_V3)
    params = json.loads((bundle / "params.txt").read_text())
    assert params == {"1": ["c1"], "2": ["husk"], "5": ["events"], "6": ["/run/x/containerd.sock"],
                      "7": ["/bin/false"]}
    assert shim.read_address(str(bundle)) == ("unix:///run/fake.sock", shim.SERVICE_V3)


def test_the_events_server_answers_forward_and_returns_the_event(tmp_path):
    """What a shim sends to $TTRPC_ADDRESS: a Forward (here in two pieces) is
    answered with an empty Response and its event returned; another method
    gets UNIMPLEMENTED.  The socket is reached by its name in the bundle."""
    import os
    import socket

    from husk_shimv2 import events

    server = events.EventServer(str(tmp_path))
    oom = proto.encode([(1, [(2, "husk"), (3, "/tasks/oom"),
                                 (4, [(1, "containerd.events.TaskOOM"), (2, proto.encode([(1, "c1")]))])])])
    forward = ttrpc.request(events.SERVICE, "Forward", oom)
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(10)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # as the shim dials it: relative to its bundle
    try:
        client.connect(events.SOCKET)
    finally:
        os.chdir(cwd)
    got = server.on_ready(server.listener.fileno())
    assert got == [] and len(server.fds()) == 2
    frame = ttrpc.header(len(forward), 1, ttrpc.TYPE_REQUEST) + forward
    client.sendall(frame[:7])
    assert server.on_ready(server.fds()[1]) == []  # half a header: nothing yet
    client.sendall(frame[7:])
    [(topic, fields)] = server.on_ready(server.fds()[1])
    assert topic == "/tasks/oom" and proto.text(fields, 1) == "c1"
    length, stream, kind, _ = ttrpc.parse_header(client.recv(ttrpc.HEADER_SIZE))
    assert (stream, kind) == (1, ttrpc.TYPE_RESPONSE) and ttrpc.response_payload(client.recv(length) if length else b"") == b""
    other = ttrpc.request(events.SERVICE, "Subscribe", b"")
    client.sendall(ttrpc.header(len(other), 3, ttrpc.TYPE_REQUEST) + other)
    assert server.on_ready(server.fds()[1]) == []
    length, stream, _, _ = ttrpc.parse_header(client.recv(ttrpc.HEADER_SIZE))
    with pytest.raises(ttrpc.TtrpcError) as error:
        ttrpc.response_payload(client.recv(length))
    assert stream == 3 and error.value.code == events.UNIMPLEMENTED
    client.close()
    server.on_ready(server.fds()[1])  # the shim went away: its connection is dropped
    assert server.fds() == [server.listener.fileno()]
    server.close()
