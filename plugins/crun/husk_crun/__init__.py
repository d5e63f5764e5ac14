"""crun, the fast C OCI runtime, as a husk backend.

crun speaks the shared OCI CLI.  It differs in that it needs the cgroupfs
manager named explicitly when systemd is not its parent, in that its
checkpoint support depends on its build (`crun --version` lists `+CRIU`),
in that its `update` cannot lift a pids limit (see :meth:`Crun.update`), and
in that it takes a compiled seccomp filter from an annotation, which husk
caches (see :meth:`Crun.prepare_spec`).
"""

import functools
import os

from husk.hooks import hookimpl
from husk.engine.oci_runtime import OCIRuntime, probe_binary

#: crun's annotation carrying a compiled seccomp filter (raw BPF, base64), used in place of the spec's profile
SECCOMP_BPF_ANNOTATION = "run.oci.seccomp_bpf_data"
#: crun's annotations about seccomp (a filter given, seccomp_fail_unknown_syscall, a receiver): a create
#: carrying one is neither handed a cached filter nor has its filter cached
SECCOMP_ANNOTATIONS = "run.oci.seccomp"
#: a profile with only these keys is all in the filter (flags and a listener are not)
CACHEABLE_SECCOMP_KEYS = {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}


class Crun(OCIRuntime):
    name = "crun"
    binary = "crun"

    def __init__(self, state_root: str) -> None:
        super().__init__(state_root)
        #: container id -> (cache file, key) for the seccomp filter its create compiles
        self._compiling: dict[str, tuple[str, dict]] = {}

    def global_args(self) -> list[str]:
        return [*super().global_args(), "--cgroup-manager", "cgroupfs"]

    def prepare_spec(self, container_id: str, spec: dict) -> None:
        """Compiling the seccomp profile is most of ``crun create`` (10-30 ms
        of CPU for the default profile, in every run and start).  crun leaves
        the filter it compiled in its state directory (seccomp.bpf, which its
        exec reuses) and takes one in SECCOMP_BPF_ANNOTATION in place of the
        spec's profile.  So the first create of a profile compiles, its start
        keeps the filter in a cache in this state root (private: under husk's
        run root), and a later create of the same profile with the same crun
        binary is handed the filter, checked against the whole profile, in
        the spec before the core writes the bundle."""
        super().prepare_spec(container_id, spec)
        try:
            self._use_cached_filter(container_id, spec)
        except (OSError, ValueError, KeyError, TypeError):  # the cache is only a shortcut: crun compiles
            pass

    def start(self, container_id: str) -> None:
        super().start(container_id)
        compiled = self._compiling.pop(container_id, None)
        if compiled is not None:
            try:
                _keep_filter(os.path.join(self.state_root, container_id, "seccomp.bpf"), *compiled)
            except OSError:
                pass

    def delete(self, container_id: str, force: bool = False) -> None:
        self._compiling.pop(container_id, None)  # created and never started: nothing to keep (an API service lives on)
        super().delete(container_id, force)

    def _use_cached_filter(self, container_id: str, spec: dict) -> None:
        import binascii
        import json  # json, subprocess and binascii here, not at the top: a create loads this plugin and needs none

        seccomp = (spec.get("linux") or {}).get("seccomp")
        if not seccomp or set(seccomp) - CACHEABLE_SECCOMP_KEYS:
            return  # no profile, or one with flags or a listener: crun's own way
        if any(key.startswith(SECCOMP_ANNOTATIONS) for key in spec.get("annotations") or {}):
            return  # crun's seccomp annotations (a filter of the user's own, strictness): crun's way, nothing kept
        binary = os.stat(self.path)
        key = {"seccomp": seccomp, "runtime": [self.path, binary.st_ino, binary.st_size, binary.st_mtime_ns]}
        encoded = json.dumps(key, sort_keys=True)  # the spec's dict may hold tuples where the cache's JSON has lists
        name = "%08x" % binascii.crc32(encoded.encode())
        cache_file = os.path.join(self.state_root, "seccomp-cache", name)
        try:
            with open(cache_file) as handle:
                cached = json.load(handle)
        except FileNotFoundError:
            self._compiling[container_id] = (cache_file, key)
            return
        if json.dumps(cached["key"], sort_keys=True) != encoded:  # another profile under the same name: it compiles
            return
        spec.setdefault("annotations", {})[SECCOMP_BPF_ANNOTATION] = cached["bpf"]

    @functools.cached_property
    def supports_checkpoint(self) -> bool:  # type: ignore[override]
        import subprocess

        try:
            out = subprocess.run([self.path, "--version"], capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return False
        return "+CRIU" in out


    def update(self, container_id: str, resources: dict) -> None:
        """crun 1.8 writes a v1 pids.max or cpu.cfs_quota_us of -1 (no limit)
        unsigned, which the kernel refuses.  So no limit is said with values
        that limit nothing: the kernel's largest pid count (PID_MAX_LIMIT; no
        more pids can exist) and a quota of every CPU of the host."""
        pids, cpu = resources.get("pids"), resources.get("cpu")
        if pids and pids.get("limit", 0) < 0:
            resources = {**resources, "pids": {**pids, "limit": PID_MAX_LIMIT}}
        if cpu and cpu.get("quota", 0) < 0 and cpu.get("period"):
            resources = {**resources, "cpu": {**cpu, "quota": cpu["period"] * (os.cpu_count() or 1)}}
        super().update(container_id, resources)


#: the most pids a Linux system can have (include/linux/threads.h, 64-bit)
PID_MAX_LIMIT = 4 * 1024 * 1024


def _keep_filter(compiled: str, cache_file: str, key: dict) -> None:
    """Cache the filter a create compiled (`compiled`: crun's seccomp.bpf)
    with the profile and binary it was compiled for, written whole or not at
    all (the API service starts containers from several threads: each
    thread's temporary file is its own)."""
    with open(compiled, "rb") as handle:
        bpf = handle.read()
    if not bpf or len(bpf) % 8:  # not whole BPF instructions (8 bytes each): keep nothing
        return
    import binascii
    import json

    from husk.state.atomic import replace_file

    replace_file(cache_file, json.dumps({"key": key, "bpf": binascii.b2a_base64(bpf, newline=False).decode()}),
                 make_parent=True)


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(Crun.binary):
        register(Crun.name, Crun)
