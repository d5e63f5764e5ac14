"""Runtime features: runc's `features` JSON, crun's `--version` flags, the
cache keyed by the binary's path and mtime, and the refusals before create."""

import json
import os

import pytest

from husk.define import InvalidArgument
from husk.engine.runtime_features import check_spec, probe, summarize

RUNC_FEATURES = json.dumps({
    "ociVersionMin": "1.0.0", "ociVersionMax": "1.0.2-dev",
    "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    "linux": {"namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
              "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False},
              "seccomp": {"enabled": True}, "apparmor": {"enabled": True}, "selinux": {"enabled": False}},
    "annotations": {"org.opencontainers.runc.checkpoint.enabled": "true"},
})
CRUN_VERSION = "crun version 1.8.1\ncommit: f8a0\nrundir: /run/crun\nspec: 1.0.0\n+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL\n"


def test_runc_features_json():
    summary = summarize(RUNC_FEATURES, "runc version 1.1.5\n")
    assert summary["Source"] == "features" and summary["OCIVersion"] == "1.0.0 - 1.0.2-dev"
    assert "time" not in summary["Namespaces"] and "poststop" in summary["Hooks"]
    assert summary["Cgroup"] == ["systemd", "v1", "v2"]
    assert (summary["Seccomp"], summary["AppArmor"], summary["SELinux"], summary["Checkpoint"]) == (
        True, True, False, True)


def test_crun_version_flags():
    summary = summarize("", CRUN_VERSION)
    assert summary["Source"] == "--version" and summary["Checkpoint"] is False and summary["Seccomp"] is True
    assert "Namespaces" not in summary and "Hooks" not in summary  # not said: not refused
    assert summarize("", CRUN_VERSION.replace("+YAJL", "+YAJL +CRIU"))["Checkpoint"] is True


@pytest.mark.parametrize("garbage", ["not json", "[1, 2]", '{"linux": "no"}'])
def test_odd_features_output_is_no_crash(garbage):
    assert summarize(garbage, "")["Source"] in ("--version", "features")


def test_specs_needing_what_the_runtime_lacks_are_refused():
    features = summarize(RUNC_FEATURES, "")
    check_spec(features, {"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]},
                          "hooks": {"prestart": [{"path": "/bin/true"}]}}, "runc")
    with pytest.raises(InvalidArgument, match="does not support the time namespace"):
        check_spec(features, {"linux": {"namespaces": [{"type": "time"}]}}, "runc")
    with pytest.raises(InvalidArgument, match="does not run precreate hooks"):
        check_spec(features, {"hooks": {"precreate": [{"path": "/bin/true"}]}}, "runc")
    check_spec(summarize("", CRUN_VERSION), {"linux": {"namespaces": [{"type": "time"}]}}, "crun")


def test_probes_are_cached_by_path_and_mtime(tmp_path):
    counter = tmp_path / "count"
    binary = tmp_path / "fakeruntime"
    binary.write_text(f"#!/bin/sh\necho x >> {counter}\n"
                      f"[ \"$1\" = features ] && echo '{RUNC_FEATURES}' || echo '+CRIU'\n")
    binary.chmod(0o755)
    cache = tmp_path / "state"
    first = probe(str(binary), str(cache))
    assert first["Source"] == "features" and first["Checkpoint"] is True
    assert probe(str(binary), str(cache)) == first
    assert len(counter.read_text().split()) == 2  # one `features`, one `--version`: the second probe was cached
    os.utime(binary, ns=(0, 1))  # a replaced binary is probed again
    probe(str(binary), str(cache))
    assert len(counter.read_text().split()) == 4
    assert probe(str(tmp_path / "missing"), str(cache)) == {"Source": "unavailable"}


RUNSC_HELP = """Usage: runsc <flags> <subcommand> <subcommand args>

Subcommands:
\tcheckpoint       checkpoint current state of container (experimental)
\tcreate           create a secure container
\trestore          restore a saved state of container (experimental)
\tstart            start a secure container

Subcommands for debug:
\tdebug            shows a variety of debug information
\tupdate           (not a main subcommand: left out)
"""


def test_runsc_features_come_from_its_help_and_version():
    """runsc has no `features`: `runsc help` lists its subcommands, `--version` the OCI spec."""
    from husk_runsc.probe import summarize as runsc_summary

    summary = runsc_summary(RUNSC_HELP, "runsc version 0.0~20221219.0\nspec: 1.0.2-dev\n")
    assert summary == {"Source": "help", "Subcommands": ["checkpoint", "create", "restore", "start"],
                       "Update": False, "Checkpoint": True, "OCIVersion": "1.0.2-dev"}
    without = runsc_summary(RUNSC_HELP.replace("\trestore", "\tresume"), "")
    assert without["Checkpoint"] is False and "OCIVersion" not in without
    assert runsc_summary("", "") == {"Source": "help"}  # nothing said: nothing refused


def test_a_backend_probes_with_its_own_commands(tmp_path):
    """probe(arguments=..., summarizer=...) runs the backend's commands, cached apart from the OCI probe's."""
    binary = tmp_path / "fakerunsc"
    binary.write_text(f"#!/bin/sh\necho \"$1\" >> {tmp_path / 'calls'}\necho \"said $1\"\n")
    binary.chmod(0o755)
    cache = str(tmp_path / "state")
    got = probe(str(binary), cache, ("help", "--version"), lambda *outputs: {"Source": "own", "Said": list(outputs)})
    assert got == {"Source": "own", "Said": ["said help\n", "said --version\n"]}
    assert probe(str(binary), cache, ("help", "--version"), lambda *outputs: {}) == got  # cached
    assert probe(str(binary), cache)["Source"] == "--version"  # other commands: probed again
    assert (tmp_path / "calls").read_text().split() == ["help", "--version", "features", "--version"]
