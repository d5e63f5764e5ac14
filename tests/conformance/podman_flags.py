"""Measured conformance with podman's command line (issue 12, item 7).

Reads `podman VERB --help` (podman 4.3, a test-only package) for every verb
husk has, and compares podman's flags with the flags husk's click commands
accept.  Every podman flag husk lacks is either

- an *exception*: listed, with its reason, in docs/cli.md under "Podman flags
  husk does not take";
- *pending*: owned by another issue (networking, registries, ...; OWNERS
  below) that builds it with its feature;
- or *missing*: a gap of issue 12 that this tool reports (and its test fails on,
  unless the gap is listed in pending-issue-12.txt beside this file, the
  shrinking list of what is not built yet).

Run it as `python tests/conformance/podman_flags.py` for the report; it exits
1 when a flag is missing that is not listed as not built yet.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLI_DOC = os.path.join(REPO, "docs", "cli.md")
NOT_BUILT = os.path.join(HERE, "pending-issue-12.txt")

#: podman flags other issues own, by issue: (verbs or "*" for any verb, flags).
#: "" is the global (root) flags' verb.
OWNERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "13 networking": (("*",), ("--add-host", "--dns", "--dns-option", "--dns-search", "--expose", "--ip",
                               "--ip6", "--mac-address", "--network-alias", "--no-hosts", "--publish",
                               "--publish-all", "--network-cmd-path", "--network-config-dir")),
    "14 registries": (("run", "create", "container run", "container create"),
                      ("--authfile", "--tls-verify", "--pull", "--disable-content-trust", "--arch", "--os",
                       "--variant", "--platform", "--quiet")),
    "14 images": (("images", "image list", "image ls"), ("--digests",)),
    "16 volumes": (("*",), ("--volumes-from", "--secret", "--volumepath", "--ignore-volumes")),
    "17 pods": (("*",), ("--pod", "--pod-id-file", "--init-ctr")),
    "17 remote": (("",), ("--url", "--connection", "--remote", "--identity", "--ssh")),
    "18 security": (("*",), ("--security-opt", "--userns", "--uidmap", "--gidmap", "--subuidname",
                             "--subgidname", "--seccomp-policy")),
}


#: whole verbs other issues own (by the verb without its `container `/`image ` group): every flag pending
VERB_OWNERS = {"network": "13 networking", "port": "13 networking", "pull": "14 registries",
               "push": "14 registries", "search": "14 registries", "login": "14 registries",
               "logout": "14 registries", "commit": "14 images", "diff": "14 images",
               "build": "15 build", "volume": "16 volumes", "secret": "16 volumes", "pod": "17 pods",
               "play kube": "17 pods", "kube": "17 pods", "generate kube": "17 pods",
               "image prune": "14 images", "image mount": "14 images", "image unmount": "14 images",
               "unshare": "18 security"}  # unshare --rootless-netns: husk has no rootless network namespace


@dataclass
class Flag:
    long: str
    short: str = ""


@dataclass
class Verb:
    path: str                      # "" for the global flags, "run", "container cleanup", ...
    podman: list[Flag] = field(default_factory=list)
    husk: set[str] = field(default_factory=set)
    accepted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    pending: list[tuple[str, str]] = field(default_factory=list)


_FLAG_LINE = re.compile(r"^\s+(?:-(\w), )?(--[a-z0-9-]+)")


def podman_flags(path: str) -> list[Flag] | None:
    """podman's flags for `path` from its --help, or None when podman has no such verb."""
    proc = subprocess.run(["podman", *path.split(), "--help"], capture_output=True, text=True,
                          env={**os.environ, "LC_ALL": "C"})
    if proc.returncode != 0 or "Options:" not in proc.stdout or (path and "Available Commands:" in proc.stdout):
        return None  # podman printed its root help: no such verb
    text = proc.stdout.split("\nOptions:\n", 1)[1]
    flags = []
    for line in text.splitlines():
        if line and not line.startswith(" "):
            break
        match = _FLAG_LINE.match(line)
        if match and match.group(2) not in ("--help", "--version"):
            flags.append(Flag(match.group(2), match.group(1) or ""))
    return flags


def husk_verbs() -> dict[str, set[str]]:
    """Each husk verb (aliases once, under the shortest path) with the flags it accepts."""
    import click

    from husk.cli import _register, cli

    _register()
    seen: dict[int, str] = {}
    result: dict[str, set[str]] = {"": _options(cli)}

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            path = " ".join(prefix + [name])
            if isinstance(command, click.Group):
                walk(command, prefix + [name])
                continue
            key = id(command)
            if key in seen and len(seen[key].split()) <= len(path.split()):
                continue
            if key in seen:
                del result[seen[key]]
            seen[key] = path
            result[path] = _options(command)

    walk(cli, [])
    return result


def _options(command) -> set[str]:
    import click

    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def exceptions() -> dict[tuple[str, str], str]:
    """(verb, flag) -> reason, from the table in docs/cli.md."""
    with open(CLI_DOC, encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("### Podman flags husk does not take", 1)
    result = {}
    if len(section) == 2:
        for line in section[1].split("\n#", 1)[0].splitlines():
            cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
            if len(cells) == 3 and re.fullmatch(r"--[a-z][a-z0-9-]*", cells[1]):
                for verb in cells[0].split(", "):
                    result[(verb.strip("`") if verb != "(global)" else "", cells[1])] = cells[2]
    return result


def verb_owner(verb: str) -> str | None:
    if verb in VERB_OWNERS:
        return VERB_OWNERS[verb]
    words = verb.split()
    if words[:1] in (["container"], ["image"], ["system"]):
        words = words[1:]
    return VERB_OWNERS.get(words[0]) if words else None


def owner(verb: str, flag: str) -> str | None:
    for issue, (verbs, flags) in OWNERS.items():
        if flag in flags and ("*" in verbs or verb in verbs):
            return issue
    return None


def not_built() -> set[tuple[str, str]]:
    """The gaps of issue 12 that are known and not built yet."""
    result = set()
    if os.path.exists(NOT_BUILT):
        with open(NOT_BUILT, encoding="utf-8") as handle:
            for line in handle:
                line = line.split("#", 1)[0].strip()
                if line:
                    verb, _, flag = line.rpartition(" ")
                    result.add(("" if verb == "(global)" else verb, flag))
    return result


def measure() -> list[Verb]:
    reasons = exceptions()
    verbs = []
    for path, husk in sorted(husk_verbs().items()):
        if verb_owner(path):
            continue  # another issue's verb: its flags come with it
        flags = podman_flags(path)
        if flags is None and path.split()[0] not in ("container", "image", "system"):
            flags = podman_flags(f"container {path}")  # podman has checkpoint only there
        if flags is None:
            continue  # a husk verb podman does not have
        verb = Verb(path, flags, husk)
        for flag in flags:
            have = flag.long in husk and (not flag.short or f"-{flag.short}" in husk)
            if have:
                verb.accepted.append(flag.long)
            elif (path, flag.long) in reasons:
                verb.exceptions.append(flag.long)
            elif owner(path, flag.long):
                verb.pending.append((flag.long, owner(path, flag.long)))
            else:
                verb.missing.append(flag.long)
        verbs.append(verb)
    return verbs


def share(verbs: list[Verb]) -> tuple[int, int]:
    """(accepted, owned by issue 12): the flags of podman's that are not another issue's."""
    accepted = sum(len(v.accepted) for v in verbs)
    owned = sum(len(v.podman) - len(v.pending) for v in verbs)
    return accepted, owned


def main() -> int:
    verbs = measure()
    todo = not_built()
    unexpected = []
    for verb in verbs:
        name = verb.path or "(global)"
        if verb.missing:
            print(f"{name}: missing {' '.join(verb.missing)}")
            unexpected += [(verb.path, f) for f in verb.missing if (verb.path, f) not in todo]
        if verb.pending:
            print(f"{name}: pending {' '.join(f'{f} ({issue})' for f, issue in verb.pending)}")
    accepted, owned = share(verbs)
    print(f"accepted {accepted} of the {owned} podman flags issue 12 owns on {len(verbs)} verbs: "
          f"{100 * accepted / owned:.1f}%")
    for verb, flag in unexpected:
        print(f"not listed as pending: {verb or '(global)'} {flag}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
