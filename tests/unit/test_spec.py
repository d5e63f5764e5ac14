"""husk.engine.spec: the OCI spec a container config turns into, checked against
podman's defaults.  The runtimes' side of it is in
tests/integration/test_spec_runtime.py."""

from __future__ import annotations

import json
import os
import resource

import pytest

from husk.engine import spec
from husk.define import InvalidArgument
from husk.state.records import ContainerConfig, ImageConfig, Mount

CONTAINER_ID = "0123456789abcdef" * 4
HOST_LIMITS = {"RLIMIT_NOFILE": 20000, "RLIMIT_NPROC": resource.RLIM_INFINITY}


def make_config(**fields) -> ContainerConfig:
    fields.setdefault("command", ["sh"])
    return ContainerConfig(id=CONTAINER_ID, name="web", created=0.0, image_id="f" * 64,
                           image_name="localhost/busybox:latest", runtime="runc", **fields)


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nwheel:x:10:root,bob\n")
    return str(root)


@pytest.fixture
def userdata(tmp_path):
    path = tmp_path / "userdata"
    path.mkdir()
    return str(path)


@pytest.fixture
def generate(rootfs, userdata):
    def generate(config: ContainerConfig, image: ImageConfig = ImageConfig(), **kwargs):
        kwargs.setdefault("host_limits", HOST_LIMITS)
        return spec.generate(config, image, rootfs, userdata, **kwargs)
    return generate


def mask(names) -> int:
    return sum(1 << spec.CAPABILITY_NAMES.index(name.removeprefix("CAP_")) for name in names)


# -- the command ------------------------------------------------------------------------

ENTRYPOINT_SET = {spec.ENTRYPOINT_SET_ANNOTATION: "true"}


@pytest.mark.parametrize("image_entrypoint, image_cmd, entrypoint, command, annotations, expected", [
    ([], ["sh"], [], [], {}, ["sh"]),
    (["/ep"], ["a"], [], [], {}, ["/ep", "a"]),
    (["/ep"], ["a"], [], ["b", "c"], {}, ["/ep", "b", "c"]),
    (["/ep"], ["a"], ["/x"], [], ENTRYPOINT_SET, ["/x"]),  # --entrypoint drops the image's CMD
    (["/ep"], ["a"], ["/x"], [], {}, ["/x"]),  # a non-empty one needs no annotation
    (["/ep"], ["a"], ["/x", "-v"], ["b"], ENTRYPOINT_SET, ["/x", "-v", "b"]),
    ([], ["a"], ["/x"], [], ENTRYPOINT_SET, ["/x"]),
    (["/ep"], ["a"], [], ["b"], ENTRYPOINT_SET, ["b"]),  # --entrypoint "" clears the image's
    ([], [], [], ["b"], {}, ["b"]),
    (["/ep"], [], [], [], {}, ["/ep"]),
])
def test_command_resolution(image_entrypoint, image_cmd, entrypoint, command, annotations, expected):
    config = make_config(entrypoint=entrypoint, command=command, annotations=annotations)
    image = ImageConfig(entrypoint=image_entrypoint, cmd=image_cmd)
    assert spec.resolve_args(config, image) == expected


@pytest.mark.parametrize("image, annotations", [(ImageConfig(), {}), (ImageConfig(cmd=["a"]), ENTRYPOINT_SET)])
def test_no_command_is_refused(image, annotations):
    with pytest.raises(InvalidArgument, match="^no command or entrypoint provided, and no CMD or ENTRYPOINT from image$"):
        spec.resolve_args(make_config(command=[], annotations=annotations), image)


# -- the environment --------------------------------------------------------------------

def test_env_defaults():
    env = spec.merge_env([], [], hostname="h", home="/root")
    assert env == [f"PATH={spec.DEFAULT_PATH}", "TERM=xterm", "container=husk", "HOSTNAME=h", "HOME=/root"]


def test_env_container_wins_over_image_over_defaults():
    env = spec.merge_env(["PATH=/bin", "A=image", "B=image"], ["B=ctr", "C=x=y", "TERM=dumb", "HOME=/h"],
                         hostname="h", home="/root")
    assert env == ["PATH=/bin", "TERM=dumb", "container=husk", "A=image", "B=ctr", "C=x=y", "HOME=/h", "HOSTNAME=h"]


def test_env_name_alone_takes_husks_value(monkeypatch):
    monkeypatch.setenv("HUSK_TEST_FROM_HOST", "yes")
    monkeypatch.delenv("HUSK_TEST_ABSENT", raising=False)
    env = spec.merge_env([], ["HUSK_TEST_FROM_HOST", "HUSK_TEST_ABSENT"], hostname="h", home="/")
    assert "HUSK_TEST_FROM_HOST=yes" in env
    assert not any(entry.startswith("HUSK_TEST_ABSENT") for entry in env)


def test_env_without_a_name_is_refused_with_the_cli_s_message():
    with pytest.raises(InvalidArgument, match='^invalid environment variable: "=value"$'):
        spec.merge_env([], ["=value"], hostname="h", home="/")


def test_env_names_lose_leading_blanks_as_podman_reads_them():
    assert "A=1" in spec.merge_env([" \tA=1"], [], hostname="h", home="/")


def test_process_for_a_user(generate):
    process = generate(make_config(user="bob", env=["X=1"], tty=True))["process"]
    assert process["user"] == {"uid": 1000, "gid": 1000, "umask": 0o022, "additionalGids": [10]}
    assert "HOME=/home/bob" in process["env"] and "HOSTNAME=0123456789ab" in process["env"]
    assert process["terminal"] is True and process["cwd"] == "/" and process["noNewPrivileges"] is False


def test_image_user_applies_unless_overridden(generate):
    assert generate(make_config(), ImageConfig(user="bob"))["process"]["user"]["uid"] == 1000
    assert generate(make_config(user="0"), ImageConfig(user="bob"))["process"]["user"]["uid"] == 0


def test_unknown_user_is_refused(generate):
    with pytest.raises(InvalidArgument, match="unable to find user nobody"):
        generate(make_config(user="nobody"))


def test_workdir_is_created_in_the_rootfs(generate, rootfs):
    assert generate(make_config(), ImageConfig(workdir="/image/dir"))["process"]["cwd"] == "/image/dir"
    assert generate(make_config(workdir="/srv/app"), ImageConfig(workdir="/image/dir"))["process"]["cwd"] == "/srv/app"
    assert os.path.isdir(os.path.join(rootfs, "srv/app"))


def test_workdir_that_is_a_file_is_refused(generate):
    with pytest.raises(InvalidArgument, match="not a directory"):
        generate(make_config(workdir="/etc/passwd"))


# -- capabilities -----------------------------------------------------------------------

def test_default_capabilities_are_podmans(generate):
    caps = generate(make_config())["process"]["capabilities"]
    assert mask(caps["bounding"]) == mask(caps["effective"]) == mask(caps["permitted"]) == 0x800405FB
    assert caps["inheritable"] == caps["ambient"] == []


@pytest.mark.parametrize("cap_add, cap_drop, added, dropped", [
    (["net_admin"], [], {"CAP_NET_ADMIN"}, set()),
    (["CAP_SYS_TIME", "Net_Raw"], ["chown", "CAP_KILL"], {"CAP_SYS_TIME", "CAP_NET_RAW"}, {"CAP_CHOWN", "CAP_KILL"}),
])
def test_cap_add_and_drop(cap_add, cap_drop, added, dropped):
    result = set(spec.capability_set(cap_add, cap_drop, privileged=False))
    assert result == (set(spec.DEFAULT_CAPABILITIES) | added) - dropped


def test_drop_all_keeps_only_added():
    assert spec.capability_set(["net_raw"], ["all"], privileged=False) == ["CAP_NET_RAW"]
    assert spec.capability_set([], ["ALL"], privileged=False) == []


def test_add_all_is_every_capability_husk_holds():
    result = spec.capability_set(["ALL"], ["sys_admin"], privileged=False)
    assert set(result) == set(spec.all_capabilities()) - {"CAP_SYS_ADMIN"}


def test_all_capabilities_are_the_kernels_within_our_bounding_set():
    with open("/proc/sys/kernel/cap_last_cap") as file:
        last = int(file.read())
    with open("/proc/self/status") as file:
        bounding = next(int(line.split()[1], 16) for line in file if line.startswith("CapBnd:"))
    assert mask(spec.all_capabilities()) == bounding & ((1 << (last + 1)) - 1)


@pytest.mark.parametrize("cap_add, cap_drop, message", [
    (["CAP_NOPE"], [], '"CAP_NOPE": unknown capability'),
    (["chown"], ["CAP_CHOWN"], 'capability "CAP_CHOWN" cannot be dropped and added'),
    (["all"], ["ALL"], "adding all caps and removing all caps not allowed"),
])
def test_bad_capabilities_are_refused(cap_add, cap_drop, message):
    with pytest.raises(InvalidArgument, match=message):
        spec.capability_set(cap_add, cap_drop, privileged=False)


def test_capability_husk_lacks_is_refused(monkeypatch):
    from husk.engine import capabilities

    monkeypatch.setattr(capabilities, "all_capabilities", lambda: ("CAP_CHOWN",))
    with pytest.raises(InvalidArgument, match='^capability "CAP_NET_RAW" cannot be granted: husk itself does not hold it$'):
        spec.capability_set(["net_raw"], [], privileged=False)


def test_non_root_holds_only_added_capabilities(generate):
    caps = generate(make_config(user="bob"))["process"]["capabilities"]
    assert mask(caps["bounding"]) == 0x800405FB
    assert caps["effective"] == caps["permitted"] == caps["inheritable"] == caps["ambient"] == []
    caps = generate(make_config(user="bob", cap_add=["net_bind_service", "NET_RAW"]))["process"]["capabilities"]
    for key in ("effective", "permitted", "inheritable", "ambient"):
        assert caps[key] == ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]


def test_privileged(generate, userdata):
    generated = generate(make_config(privileged=True))
    assert generated["process"]["capabilities"]["bounding"] == list(spec.all_capabilities())
    assert "maskedPaths" not in generated["linux"] and "readonlyPaths" not in generated["linux"]
    assert generated["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(device["path"] == "/dev/null" for device in generated["linux"]["devices"])
    sys_mount = next(m for m in generated["mounts"] if m["destination"] == "/sys")
    assert sys_mount["options"] == ["rprivate", "nosuid", "noexec", "nodev", "rw"]
    with open(os.path.join(userdata, ".containerenv")) as file:
        content = file.read()
    assert content.startswith('engine="husk-') and f'id="{CONTAINER_ID}"\n' in content
    assert 'name="web"\n' in content and 'image="localhost/busybox:latest"\n' in content
    assert f'imageid="{"f" * 64}"\n' in content and content.endswith("rootless=0\n")


# -- rlimits ----------------------------------------------------------------------------

@pytest.mark.parametrize("host, nofile, nproc", [
    ({"RLIMIT_NOFILE": 20000, "RLIMIT_NPROC": 5000}, 20000, 5000),
    ({"RLIMIT_NOFILE": 2**21, "RLIMIT_NPROC": resource.RLIM_INFINITY}, 1048576, 4194304),
    ({}, 1048576, 4194304),
])
def test_rlimits_clamped_to_host(host, nofile, nproc):
    assert spec.rlimits(host) == [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile},
                                  {"type": "RLIMIT_NPROC", "hard": nproc, "soft": nproc}]


def test_rlimits_default_to_our_own_hard_limits():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = spec.rlimits()[0]
    assert nofile["hard"] == nofile["soft"] == (1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard))


# -- mounts -----------------------------------------------------------------------------

def mounts_by_destination(generated) -> dict:
    return {mount["destination"]: mount for mount in generated["mounts"]}


def test_default_mounts(generate, userdata):
    mounts = mounts_by_destination(generate(make_config()))
    assert {dest: m["type"] for dest, m in mounts.items()} == {
        "/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue",
        "/sys": "sysfs", "/sys/fs/cgroup": "cgroup", "/etc/hosts": "bind", "/etc/hostname": "bind",
        "/etc/resolv.conf": "bind", "/run/.containerenv": "bind"}
    assert "size=65536k" in mounts["/dev/shm"]["options"] and "noexec" in mounts["/dev/shm"]["options"]
    assert "newinstance" in mounts["/dev/pts"]["options"] and "gid=5" in mounts["/dev/pts"]["options"]
    assert "ro" in mounts["/sys"]["options"] and "ro" in mounts["/sys/fs/cgroup"]["options"]
    assert mounts["/dev"]["options"] == ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]
    assert mounts["/sys/fs/cgroup"]["options"] == ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]
    assert mounts["/etc/hosts"]["source"] == os.path.join(userdata, "hosts")
    assert "ro" not in mounts["/etc/hosts"]["options"]


def test_parents_are_mounted_before_children(generate, tmp_path):
    generated = generate(make_config(mounts=[Mount("/dev/extra", source=str(tmp_path)),
                                             Mount("/a/b/c", type="tmpfs"), Mount("/a", type="tmpfs")]))
    order = [mount["destination"] for mount in generated["mounts"]]
    for child, parent in [("/dev/pts", "/dev"), ("/dev/extra", "/dev"), ("/sys/fs/cgroup", "/sys"), ("/a/b/c", "/a")]:
        assert order.index(parent) < order.index(child)


def test_bind_mount_options(generate, tmp_path):
    mounts = mounts_by_destination(generate(make_config(mounts=[
        Mount("/data", source=str(tmp_path), options=["ro", "Z"]),
        Mount("/shared/", source=str(tmp_path), options=["bind", "rshared"]),
    ])))
    assert mounts["/data"] == {"destination": "/data", "type": "bind", "source": str(tmp_path),
                               "options": ["rbind", "ro", "rprivate"]}
    assert mounts["/shared"]["options"] == ["bind", "rshared"]


def test_bind_of_a_missing_source_is_refused(generate, tmp_path):
    with pytest.raises(InvalidArgument, match=f"^statfs {tmp_path}/nope: no such file or directory$"):
        generate(make_config(mounts=[Mount("/data", source=str(tmp_path / "nope"))]))


def test_relative_destination_is_refused(generate, tmp_path):
    with pytest.raises(InvalidArgument, match="must be an absolute path"):
        generate(make_config(mounts=[Mount("data", source=str(tmp_path))]))


def test_tmpfs_options(generate):
    mounts = mounts_by_destination(generate(make_config(mounts=[
        Mount("/scratch", type="tmpfs", options=["size=10m"]),
        Mount("/fast", type="tmpfs", options=["exec", "ro", "mode=1777"]),
    ])))
    assert mounts["/scratch"] == {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                                  "options": ["size=10m", "rw", "noexec", "nosuid", "nodev", "tmpcopyup"]}
    assert mounts["/fast"]["options"] == ["exec", "ro", "mode=1777", "nosuid", "nodev", "tmpcopyup"]


def test_read_only(generate):
    generated = generate(make_config(read_only=True, mounts=[Mount("/tmp", type="tmpfs", options=["size=1m"])]))
    assert generated["root"]["readonly"] is True
    mounts = mounts_by_destination(generated)
    assert mounts["/var/tmp"]["type"] == mounts["/run"]["type"] == "tmpfs"
    assert "rw" in mounts["/run"]["options"]
    assert "size=1m" in mounts["/tmp"]["options"]  # the user's /tmp replaces the default one
    assert [m["destination"] for m in generated["mounts"]].count("/tmp") == 1
    for destination in spec.CONTAINER_FILES:
        assert "ro" in mounts[destination]["options"]


def test_user_mount_replaces_a_container_file(generate, tmp_path):
    hosts = tmp_path / "myhosts"
    hosts.write_text("")
    mounts = mounts_by_destination(generate(make_config(mounts=[Mount("/etc/hosts", source=str(hosts))])))
    assert mounts["/etc/hosts"]["source"] == str(hosts)


# -- namespaces, linux, the rest --------------------------------------------------------

def test_linux_section(generate):
    generated = generate(make_config(annotations={"a": "b"}))
    linux = generated["linux"]
    types = [namespace["type"] for namespace in linux["namespaces"]]
    assert {"pid", "ipc", "uts", "mount", "network"} <= set(types)
    assert ("cgroup" in types) == os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    assert linux["cgroupsPath"] == f"husk/{CONTAINER_ID}"
    assert "/proc/kcore" in linux["maskedPaths"] and "/sys/firmware" in linux["maskedPaths"]
    assert "/proc/sys" in linux["readonlyPaths"] and "/proc/sysrq-trigger" in linux["readonlyPaths"]
    rules = linux["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in rules
    assert generated["annotations"] == {"a": "b"}
    assert generated["hostname"] == "0123456789ab"
    assert generated["process"]["rlimits"][0] == {"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}


def test_host_network(generate, userdata):
    generated = generate(make_config(network="host"))
    assert "network" not in [namespace["type"] for namespace in generated["linux"]["namespaces"]]
    assert generated["hostname"] == os.uname().nodename
    assert generate(make_config(network="host", hostname="mine"))["hostname"] == "mine"


def test_container_files(generate, userdata):
    generate(make_config(hostname="box"))
    with open(os.path.join(userdata, "hostname")) as file:
        assert file.read() == "box\n"
    with open(os.path.join(userdata, "hosts")) as file:
        lines = file.read().splitlines()
    assert lines[0].split()[:2] == ["127.0.0.1", "localhost"] and lines[1].split()[:2] == ["::1", "localhost"]
    assert lines[2].split() == ["127.0.1.1", "box", "web"]
    with open(os.path.join(userdata, ".containerenv")) as file:
        assert file.read() == ""  # as podman: details only for a privileged container
    assert os.path.exists(os.path.join(userdata, "resolv.conf"))


def test_resolv_conf_drops_loopback_nameservers():
    host = "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\noptions edns0\n"
    assert spec.resolv_conf_content(host, False) == "search example.org\nnameserver 10.0.0.1\noptions edns0\n"
    assert spec.resolv_conf_content(host, True) == host
    assert spec.resolv_conf_content("nameserver 127.0.0.1\n", False) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_specs_share_nothing(generate):
    """A pre_init plugin edits the spec in place: that must not leak into the next one."""
    def scribble(value):
        if isinstance(value, dict):
            for item in value.values():
                scribble(item)
            value["scribbled"] = True
        elif isinstance(value, list):
            for item in value:
                scribble(item)
            value.append("scribbled")

    configs = [make_config(user="bob", cap_add=["net_raw"]), make_config(privileged=True, read_only=True)]
    for config in configs:
        scribble(generate(config))
    for config in configs:
        assert "scribbled" not in json.dumps(generate(config))


def test_write_bundle(generate, userdata):
    generated = generate(make_config())
    path = spec.write_bundle(generated, userdata)
    assert path == os.path.join(userdata, "config.json")
    with open(path) as file:
        assert json.load(file) == generated
    spec.write_bundle({"ociVersion": "x"}, userdata)  # a rewrite leaves nothing of the old one
    with open(path) as file:
        assert json.load(file) == {"ociVersion": "x"}
