"""What an OCI runtime supports, probed rather than guessed.

runc (and any runtime with the OCI runtime-spec's ``features`` subcommand)
says it as JSON: the hooks, namespaces, cgroup managers, seccomp, AppArmor,
SELinux and its annotations.  Runtimes without it (crun 1.8) are probed
through ``--version``, whose ``+FLAG`` words (``+CRIU``, ``+SECCOMP``, ...)
name what they were built with.  The result is cached in the runtime's state
directory keyed by the binary's path and mtime, so a runtime is probed once
per run root and again only when it is replaced.

:func:`check_spec` refuses, before anything is created, a spec that asks
for a namespace or a hook stage the runtime says it does not support.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Callable

from ..define import InvalidArgument

CACHE_FILE = "features.json"
#: OCI spec namespace types as runc's `features` names them
NAMESPACE_NAMES = {"network": "network", "mount": "mount", "pid": "pid", "ipc": "ipc", "uts": "uts",
                   "user": "user", "cgroup": "cgroup", "time": "time"}


def probe(binary: str, cache_dir: str, arguments: tuple[str, ...] = ("features", "--version"),
          summarizer: "Callable[..., dict[str, Any]] | None" = None) -> dict[str, Any]:
    """The runtime's features as `husk info` shows them, from the cache when
    the binary is unchanged.  By default the OCI way (:func:`summarize` of
    ``features`` and ``--version``); a backend whose runtime says it otherwise
    names its own commands and a ``summarizer(*their outputs)``."""
    try:
        stat = os.stat(binary)
    except OSError:
        return {"Source": "unavailable"}
    key = {"path": binary, "mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "arguments": list(arguments)}
    cache = os.path.join(cache_dir, CACHE_FILE)
    try:
        with open(cache) as handle:
            cached = json.load(handle)
        if isinstance(cached, dict) and cached.get("key") == key and isinstance(cached.get("features"), dict):
            return cached["features"]
    except (OSError, ValueError):
        pass
    features = (summarizer or summarize)(*(_run(binary, argument) for argument in arguments))
    from ..state.atomic import replace_file

    try:
        replace_file(cache, json.dumps({"key": key, "features": features}), make_parent=True)
    except OSError:
        pass  # an unwritable cache costs a probe next time, nothing else
    return features


def _run(binary: str, argument: str) -> str:
    try:
        proc = subprocess.run([binary, argument], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


def summarize(features_output: str, version_output: str) -> dict[str, Any]:
    """One document from `features` JSON (when the runtime has it) and the
    `--version` text: Source, OCIVersion, Hooks, Namespaces, Cgroup, Seccomp,
    AppArmor, SELinux, Checkpoint and the build's +Flags.  A list or flag the
    runtime does not say is left out: unknown, not unsupported."""
    flags = sorted(word[1:] for word in version_output.split() if word.startswith("+") and len(word) > 1)
    summary: dict[str, Any] = {"Source": "--version", "Flags": flags}
    if flags:
        summary.update(Seccomp="SECCOMP" in flags, AppArmor="APPARMOR" in flags, SELinux="SELINUX" in flags,
                       Checkpoint="CRIU" in flags)
    try:
        document = json.loads(features_output) if features_output.strip() else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return summary
    linux = document.get("linux") if isinstance(document.get("linux"), dict) else {}
    annotations = document.get("annotations") if isinstance(document.get("annotations"), dict) else {}
    summary["Source"] = "features"
    summary["OCIVersion"] = f"{document.get('ociVersionMin', '?')} - {document.get('ociVersionMax', '?')}"
    if isinstance(document.get("hooks"), list):
        summary["Hooks"] = [str(hook) for hook in document["hooks"]]
    if isinstance(linux.get("namespaces"), list):
        summary["Namespaces"] = [str(name) for name in linux["namespaces"]]
    if isinstance(linux.get("cgroup"), dict):
        summary["Cgroup"] = sorted(name for name, on in linux["cgroup"].items() if on is True)
    for key, name in (("seccomp", "Seccomp"), ("apparmor", "AppArmor"), ("selinux", "SELinux")):
        if isinstance(linux.get(key), dict) and "enabled" in linux[key]:
            summary[name] = linux[key]["enabled"] is True
    if "org.opencontainers.runc.checkpoint.enabled" in annotations:
        summary["Checkpoint"] = annotations["org.opencontainers.runc.checkpoint.enabled"] == "true"
    return summary


def check_spec(features: dict[str, Any], spec: dict[str, Any], runtime_name: str) -> None:
    """Refuse a spec needing a namespace or a hook stage that the runtime's
    features do not list (nothing is refused on what the runtime does not say)."""
    namespaces = features.get("Namespaces")
    if namespaces is not None:
        for entry in (spec.get("linux") or {}).get("namespaces") or []:
            kind = NAMESPACE_NAMES.get(entry.get("type", ""), entry.get("type", ""))
            if kind not in namespaces:
                raise InvalidArgument(f"OCI runtime {runtime_name} does not support the {kind} namespace "
                                      f"(its features list {', '.join(namespaces)})")
    hooks = features.get("Hooks")
    if hooks is not None:
        for stage, entries in (spec.get("hooks") or {}).items():
            if entries and stage not in hooks:
                raise InvalidArgument(f"OCI runtime {runtime_name} does not run {stage} hooks "
                                      f"(its features list {', '.join(hooks)})")
