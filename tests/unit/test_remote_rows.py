"""Remote `ps` rows from libpod list documents: the services (podman's and
husk's) leave CreatedAt empty, write Created in RFC 3339 and put only the
health check's status in Status."""

from husk.cli.remote import _ps_row
from husk.cli.remote_transport import Target, parse

NOW = 1_800_000_000.0


def _doc(**fields):
    return {"Id": "a" * 64, "Image": "busybox", "Command": ["sleep", "1000000000000"], "Names": ["x"],
            "Created": NOW - 120, "State": "created", "Status": "", **fields}


def test_podman_documents_get_their_columns_made():
    row = _ps_row(_doc(Created="2027-01-15T08:00:00.5Z", State="exited", ExitCode=3, ExitedAt=NOW - 7200),
                  False, NOW)
    assert (row["ID"], row["Command"], row["Status"]) == ("a" * 12, "sleep 10000000000...", "Exited (3) 2 hours ago")
    assert row["CreatedHuman"].endswith(" ago")
    assert _ps_row(_doc(State="running", StartedAt=NOW - 5), True, NOW)["Status"] == "Up 5 seconds ago"


def test_the_health_status_follows_the_state():
    row = _ps_row(_doc(State="running", StartedAt=NOW - 5, Status="healthy"), True, NOW)
    assert (row["ID"], row["Status"], row["CreatedHuman"]) == ("a" * 64, "Up 5 seconds ago (healthy)", "2 minutes ago")


def test_destinations_parse():
    assert parse("ssh://me@h:2200/run/s.sock") == Target("ssh", path="/run/s.sock", host="h", port=2200, user="me")
    assert parse("ssh://h/run/s.sock").port == 22
    assert parse("tcp://127.0.0.1:8080") == Target("tcp", host="127.0.0.1", port=8080)
    assert parse("unix:///run/husk/husk.sock") == Target("unix", path="/run/husk/husk.sock")


def test_remote_publish_leaves_the_host_port_to_the_service():
    """`-p 80` remotely sends host port 0: the service picks a free port on its own host (a port
    free here says nothing about the service's machine)."""
    from husk.cli.remote_create import spec_generator

    command = remote_command("create")
    ctx = command.make_context("create", ["-p", "80", "-p", "127.0.0.1::90-91/udp", "busybox"])
    spec = spec_generator(ctx, ctx.params)
    assert spec["portmappings"] == [
        {"container_port": 80, "host_port": 0, "host_ip": "", "protocol": "tcp", "range": 1},
        {"container_port": 90, "host_port": 0, "host_ip": "127.0.0.1", "protocol": "udp", "range": 2}]


def test_every_local_run_flag_is_sent_or_refused_remotely():
    """A flag of the local `run` that the remote verb neither sends nor acts on is refused in one
    line (never dropped): each one named here is refused, so that a new local flag is a decision."""
    import pytest

    from husk.cli.remote_create import CLIENT_SIDE, SPEC_TABLE, spec_generator
    from husk.define import InvalidArgument

    command = remote_command("run")
    sent = {name for names, _ in SPEC_TABLE for name in names} | CLIENT_SIDE
    refused = sorted(max(p.opts, key=len) for p in command.params if p.name not in sent)
    assert refused == REFUSED
    for param in command.params:
        flag = max(param.opts, key=len)
        if flag not in refused:
            continue
        given = [] if flag in FLAGS else [{"boolean": "false", "integer": "1"}.get(param.type.name, "x")]
        ctx = command.make_context("run", [flag, *given, "busybox"])
        with pytest.raises(InvalidArgument, match=f"^{flag} is not supported remotely yet"):
            spec_generator(ctx, ctx.params)


#: run's flags the remote verb refuses: registry credentials and platforms (the service pulls with its own),
#: files and descriptors of this host (--rootfs, --pidfile, --conmon-pidfile, --preserve-fds), devices' numbers
#: (this host's), detach keys (the remote attach has none yet), and what podman 4.3's client does not send
#: either (--passwd, --read-only-tmpfs; --subuidname/--subgidname it maps from the client's /etc/subuid)
REFUSED = ["--arch", "--authfile", "--blkio-weight-device", "--cert-dir", "--conmon-pidfile", "--creds",
           "--detach-keys", "--device-read-bps", "--device-read-iops", "--device-write-bps", "--device-write-iops",
           "--os", "--passwd", "--pidfile", "--platform", "--preserve-fds", "--read-only-tmpfs", "--rootfs",
           "--subgidname", "--subuidname", "--tls-verify", "--variant"]
#: those that take no value
FLAGS = {"--rootfs"}


def remote_command(name: str):
    from husk.cli.remote_create import commands

    return commands()[name]
