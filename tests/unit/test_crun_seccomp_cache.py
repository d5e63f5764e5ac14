"""husk-crun's seccomp-filter cache works on the spec before the bundle is
written (OCIRuntime.prepare_spec), not by re-reading and rewriting config.json
after it (issue 20).  The real filter, compiled by crun and refusing what the
profile refuses, is tested in tests/integration/test_confinement.py."""

import json
import os

import pytest

husk_crun = pytest.importorskip("husk_crun")

PROFILE = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}
BPF = bytes(range(16))  # two whole BPF instructions


@pytest.fixture
def crun(tmp_path):
    backend = husk_crun.Crun(str(tmp_path / "state"))
    if not os.path.isabs(backend.path):
        pytest.skip("crun is not installed")
    return backend


def _spec(profile=PROFILE, annotations=None) -> dict:
    return {"ociVersion": "1.0.2", "process": {"args": ["true"]}, "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "mount"}], "seccomp": json.loads(json.dumps(profile))},
            "annotations": dict(annotations or {})}


def _compile(crun, container_id: str) -> None:
    """What a first create and its start do: the create is to compile (nothing
    cached), and its start keeps crun's seccomp.bpf."""
    spec = _spec()
    crun.prepare_spec(container_id, spec)
    assert husk_crun.SECCOMP_BPF_ANNOTATION not in spec["annotations"]
    cache_file, key = crun._compiling.pop(container_id)
    compiled = os.path.join(crun.state_root, container_id, "seccomp.bpf")
    os.makedirs(os.path.dirname(compiled))
    with open(compiled, "wb") as handle:
        handle.write(BPF)
    husk_crun._keep_filter(compiled, cache_file, key)


def test_a_create_of_a_cached_profile_gets_the_filter_in_its_spec(crun):
    _compile(crun, "first")
    spec = _spec()
    spec["linux"]["seccomp"]["architectures"] = tuple(spec["linux"]["seccomp"]["architectures"])  # as a dict may
    crun.prepare_spec("second", spec)
    assert spec["annotations"][husk_crun.SECCOMP_BPF_ANNOTATION] == "AAECAwQFBgcICQoLDA0ODw=="
    assert "second" not in crun._compiling


def test_a_create_with_a_seccomp_annotation_of_its_own_is_left_to_crun(crun):
    _compile(crun, "first")
    spec = _spec(annotations={"run.oci.seccomp_fail_unknown_syscall": "1"})
    crun.prepare_spec("strict", spec)
    assert spec["annotations"] == {"run.oci.seccomp_fail_unknown_syscall": "1"}
    assert "strict" not in crun._compiling


def test_another_profile_compiles(crun):
    _compile(crun, "first")
    spec = _spec({**PROFILE, "defaultAction": "SCMP_ACT_KILL"})
    crun.prepare_spec("other", spec)
    assert husk_crun.SECCOMP_BPF_ANNOTATION not in spec["annotations"]
    assert "other" in crun._compiling


def test_create_command_reads_no_bundle(crun, tmp_path):
    """The argv is made without opening config.json: the spec was checked and
    given its annotations before the core wrote it."""
    argv = crun.create_command("c", str(tmp_path / "no-bundle"), "/pid", "/log")
    assert argv[-1] == "c" and "create" in argv
