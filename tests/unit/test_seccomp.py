"""Docker-format seccomp profiles converted to the OCI spec's linux.seccomp (pure logic;
the integration tests in test_confinement.py compare the result with podman's)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from husk.define import InvalidArgument
from husk.engine import seccomp, security
from husk.state.records import Security

DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]
needs_default = pytest.mark.skipif(not os.path.exists(seccomp.DEFAULT_PROFILE),
                                   reason="golang-github-containers-common is not installed")

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [], "includes": {}, "excludes": {}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["sync_file_range2"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        {"names": ["nope_on_amd64"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
        {"names": ["new_thing"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
        {"name": "personality", "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 3, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]},
    ],
}


@pytest.fixture
def profile_file(tmp_path):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(PROFILE))
    return str(path)


def test_rules_are_kept_for_the_arch_the_caps_and_the_kernel(profile_file):
    converted = seccomp.oci_seccomp(profile_file, ["CAP_SYS_CHROOT"], arch="amd64", kernel=(6, 1))
    assert converted == {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["new_thing"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 3, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]},
        ]}


def test_without_the_capability_and_on_an_older_kernel_or_other_arch(profile_file):
    converted = seccomp.oci_seccomp(profile_file, [], arch="arm64", kernel=(5, 4))
    assert converted["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    names = [rule["names"][0] for rule in converted["syscalls"]]
    assert names == ["read", "sync_file_range2", "nope_on_amd64", "chroot", "personality"]
    assert converted["syscalls"][3] == {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}


@needs_default
def test_podmans_profile_for_podmans_default_capabilities():
    """What podman 4.3.1 wrote into a container's config.json on this host
    (summarised): 22 rules, x86_64 with its sub-architectures, ENOSYS by default."""
    converted = seccomp.oci_seccomp(seccomp.DEFAULT_PROFILE, DEFAULT_CAPS, arch="amd64", kernel=(6, 1))
    assert converted["defaultAction"] == "SCMP_ACT_ERRNO" and converted["defaultErrnoRet"] == 38
    assert converted["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert len(converted["syscalls"]) == 22
    allowed = {name for rule in converted["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" and "args" not in rule
               for name in rule["names"]}
    assert {"chroot", "arch_prctl", "read"} <= allowed
    assert not {"add_key", "perf_event_open", "io_uring_setup", "bpf", "kexec_load"} & allowed
    refused = {name for rule in converted["syscalls"] if rule["action"] == "SCMP_ACT_ERRNO" for name in rule["names"]}
    assert {"open_by_handle_at", "init_module", "acct", "ioperm", "settimeofday"} <= refused
    with_admin = seccomp.oci_seccomp(seccomp.DEFAULT_PROFILE, [*DEFAULT_CAPS, "CAP_SYS_ADMIN"], arch="amd64",
                                     kernel=(6, 1))
    admin_allowed = {name for rule in with_admin["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
                     for name in rule["names"]}
    assert {"mount", "setns", "unshare", "bpf"} <= admin_allowed


@pytest.mark.parametrize("text, reason", [
    ("{bad", "Expecting property name"),
    ("[]", "not a JSON object"),
    ('{"defaultAction": "SCMP_ACT_NOPE"}', "unknown defaultAction"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "X"}]}', "unknown action"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",'
     ' "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', "malformed argument"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}', "needs names"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": -1}', "errno number"),
])
def test_a_bad_profile_is_one_line_naming_it(tmp_path, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InvalidArgument) as raised:
        seccomp.oci_seccomp(str(path), [])
    message = str(raised.value)
    assert message.startswith(f"loading seccomp profile ({path}) failed: decoding seccomp profile failed: ")
    assert reason in message and "\n" not in message


def test_a_missing_profile_says_so(tmp_path):
    with pytest.raises(InvalidArgument, match=r"^opening seccomp profile failed: open /nonexistent.json: "
                                              r"no such file or directory$"):
        seccomp.oci_seccomp("/nonexistent.json", [])


def test_a_profile_is_read_again_only_when_it_changes(profile_file):
    first = seccomp.oci_seccomp(profile_file, [], arch="amd64", kernel=(6, 1))
    hits = seccomp._load_version.cache_info().hits
    seccomp.oci_seccomp(profile_file, [], arch="amd64", kernel=(6, 1))
    assert seccomp._load_version.cache_info().hits == hits + 1
    changed = dict(PROFILE, defaultErrnoRet=1)
    with open(profile_file, "w") as file:
        file.write(json.dumps(changed) + " ")  # another size as well as another mtime
    assert seccomp.oci_seccomp(profile_file, [], arch="amd64", kernel=(6, 1))["defaultErrnoRet"] == 1
    assert first["defaultErrnoRet"] == 38


# -- --security-opt ----------------------------------------------------------------------

def test_security_opts_parse_as_podman_reads_them(profile_file):
    parsed = security.parse(["seccomp=unconfined", "apparmor=unconfined", "label=disable", "no-new-privileges",
                             "mask=/a:/b", "unmask=/proc/*", "proc-opts=hidepid=2,nosuid"], "image")
    assert parsed == Security(seccomp="unconfined", seccomp_policy="image", apparmor="unconfined",
                              labels=["disable"], no_new_privileges=True, mask=["/a", "/b"],
                              unmask=["/proc/*"], proc_opts=["hidepid=2", "nosuid"])
    assert security.parse([f"seccomp={profile_file}"]).seccomp == profile_file
    assert security.parse(["no-new-privileges=false"]).no_new_privileges is False


@pytest.mark.parametrize("options, policy, message", [
    (["bogus"], "default", 'invalid --security-opt 1: "bogus"'),
    (["foo=bar"], "default", 'invalid --security-opt 2: "foo=bar"'),
    (["no-new-privileges=maybe"], "default", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
    (["seccomp"], "default", 'invalid --security-opt 1: "seccomp"'),
    ([], "foo", 'invalid seccomp policy "foo": valid policies are ["default" "image"]'),
    (["mask=proc/x"], "default", 'invalid --security-opt mask path "proc/x": must be an absolute path'),
])
def test_bad_security_opts_are_refused_with_podmans_words(options, policy, message):
    with pytest.raises(InvalidArgument) as raised:
        security.parse(options, policy)
    assert str(raised.value) == message


@pytest.mark.skipif(security.apparmor_enabled(), reason="this kernel has AppArmor")
def test_a_named_apparmor_profile_is_refused_without_apparmor():
    with pytest.raises(InvalidArgument, match='^apparmor profile "foo" specified, but Apparmor is not enabled '
                                              'on this system$'):
        security.parse(["apparmor=foo"])


def _spec() -> dict:
    return {"process": {"capabilities": {"bounding": list(DEFAULT_CAPS)}},
            "linux": {}, "mounts": [{"destination": "/proc", "type": "proc", "options": ["nosuid"]}]}


@needs_default
def test_apply_masks_unmasks_and_filters_as_podman():
    spec = _spec()
    security.apply(spec, security.parse(["unmask=/proc/keys:/sys/*", "mask=/foo", "proc-opts=hidepid=2"]),
                   privileged=False, image_labels={})
    assert spec["linux"]["maskedPaths"] == [
        "/proc/acpi", "/proc/kcore", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
        "/proc/sched_debug", "/proc/scsi", "/sys/fs/selinux", "/sys/dev/block", "/foo"]
    assert spec["linux"]["readonlyPaths"] == list(security.READONLY_PATHS)
    assert spec["mounts"][0]["options"] == ["hidepid=2"]
    assert spec["linux"]["seccomp"]["defaultErrnoRet"] == 38
    assert spec["process"]["noNewPrivileges"] is False

    spec = _spec()
    security.apply(spec, security.parse(["unmask=ALL", "seccomp=unconfined", "no-new-privileges"]),
                   privileged=False, image_labels={})
    assert "maskedPaths" not in spec["linux"] and "readonlyPaths" not in spec["linux"]
    assert "seccomp" not in spec["linux"] and spec["process"]["noNewPrivileges"] is True

    spec = _spec()
    security.apply(spec, Security(), privileged=True, image_labels={})
    assert spec["linux"] == {}


def test_the_image_policy_takes_the_image_labels_profile():
    label = json.dumps({"defaultAction": "SCMP_ACT_LOG"})
    spec = _spec()
    security.apply(spec, security.parse([], "image"), privileged=False,
                   image_labels={seccomp.IMAGE_LABEL: label})
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_LOG"


# -- AppArmor --------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("apparmor_parser") is None, reason="apparmor is not installed (test-packages.txt)")
def test_the_default_apparmor_profile_parses():
    """apparmor_parser -Q: parsed, nothing loaded (these kernels have no AppArmor)."""
    from husk.engine import apparmor

    text = apparmor.profile_text()
    assert text.count("profile containers-default-0.50.1 ") == 1 and "deny mount," in text
    result = apparmor.parse_only(text)
    assert result.returncode == 0, result.stderr
    assert apparmor.parse_only(text.replace("deny mount,", "deny mount")).returncode != 0


def test_apparmor_where_the_kernel_has_it(monkeypatch):
    """The default profile is loaded and named; a named one is used as it is;
    unconfined and privileged get none (the kernel part is not testable here)."""
    from husk.engine import apparmor

    loaded = []
    monkeypatch.setattr(security, "apparmor_enabled", lambda: True)
    monkeypatch.setattr(apparmor, "ensure_loaded", lambda: loaded.append(True))
    for record, privileged, expected in [(Security(seccomp="unconfined"), False, "containers-default-0.50.1"),
                                         (Security(seccomp="unconfined", apparmor="mine"), False, "mine"),
                                         (Security(seccomp="unconfined", apparmor="unconfined"), False, None),
                                         (Security(), True, None)]:
        spec = _spec()
        security.apply(spec, record, privileged=privileged, image_labels={})
        assert spec["process"].get("apparmorProfile") == expected
    assert loaded == [True]
    assert security.parse(["apparmor=mine"]).apparmor == "mine"
