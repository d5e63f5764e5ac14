"""OCI hooks from `--hooks-dir` directories, as podman runs them.

Each directory holds JSON hook definitions (podman's oci-hooks format,
version 1.0.0): what to run (`hook`: path, args, env, timeout), when
(`when`: always, annotations, commands, hasBindMounts; all that are given
must hold, or any with `"or": true`) and at which OCI stages (`stages`).
The hooks that apply are written into the container's spec at each init;
the OCI runtime runs them.  A file in a later directory replaces one of the
same name in an earlier one, as in podman; files are applied by name.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..define import InvalidArgument

STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def load(directories: list[str]) -> list[dict[str, Any]]:
    """The hook definitions in `directories` (checked; a bad one is an error naming its file)."""
    by_name: dict[str, str] = {}
    for directory in directories:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue  # podman skips a hooks directory that does not exist
        except OSError as exc:
            raise InvalidArgument(f"hooks directory {directory}: {exc.strerror}") from None
        for name in names:
            if name.endswith(".json"):
                by_name[name] = os.path.join(directory, name)
    return [_read(by_name[name]) for name in sorted(by_name)]


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"hook {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != "1.0.0":
        raise InvalidArgument(f"hook {path}: unknown version (husk reads version 1.0.0)")
    hook, when, stages = document.get("hook"), document.get("when"), document.get("stages")
    if not isinstance(hook, dict) or not isinstance(hook.get("path"), str) or not os.path.isabs(hook["path"]):
        raise InvalidArgument(f"hook {path}: hook.path must be an absolute path")
    if not isinstance(when, dict) or not any(key in when for key in ("always", "annotations", "commands",
                                                                       "hasBindMounts")):
        raise InvalidArgument(f"hook {path}: when must hold always, annotations, commands or hasBindMounts")
    if not isinstance(stages, list) or not stages or any(stage not in STAGES for stage in stages):
        raise InvalidArgument(f"hook {path}: stages must be some of {', '.join(STAGES)}")
    try:
        for pattern in [*when.get("annotations", {}), *when.get("annotations", {}).values(),
                        *when.get("commands", [])]:
            re.compile(pattern)
    except (re.error, TypeError, AttributeError) as exc:
        raise InvalidArgument(f"hook {path}: bad pattern: {exc}") from None
    entry = {key: hook[key] for key in ("path", "args", "env", "timeout") if key in hook}
    return {"hook": entry, "when": when, "stages": stages}


def applies(definition: dict[str, Any], spec: dict[str, Any]) -> bool:
    when = definition["when"]
    results = []
    if "always" in when:
        results.append(bool(when["always"]))
    if "hasBindMounts" in when:
        binds = any(m.get("type") == "bind" for m in spec.get("mounts", []))
        results.append(binds == bool(when["hasBindMounts"]))
    annotations = spec.get("annotations", {})
    for key_pattern, value_pattern in when.get("annotations", {}).items():
        results.append(any(re.fullmatch(key_pattern, k) and re.fullmatch(value_pattern, v)
                           for k, v in annotations.items()))
    if when.get("commands"):
        command = spec["process"]["args"][0] if spec["process"].get("args") else ""
        results.append(any(re.fullmatch(pattern, command) for pattern in when["commands"]))
    return any(results) if when.get("or") else bool(results) and all(results)


def add_to_spec(spec: dict[str, Any], directories: list[str]) -> None:
    """Write the hooks of `directories` that apply to `spec` into it."""
    for definition in load(directories):
        if applies(definition, spec):
            hooks = spec.setdefault("hooks", {})
            for stage in definition["stages"]:
                hooks.setdefault(stage, []).append(dict(definition["hook"]))
