"""Reading a Containerfile with moby's own parser (the `dockerfile` package:
Go bindings to github.com/moby/buildkit's parser, so line continuations, the
escape and syntax directives, comments, JSON and shell forms and heredocs are
exactly Docker's), then checking what Docker's dispatcher checks: known
instructions, their argument counts and flags, FROM before anything but ARG.

A problem is one line naming the file, the line and the problem
(:class:`SyntaxProblem`, exit 125)."""

from __future__ import annotations

import dataclasses
import re

from ..define import InvalidArgument

#: the flags each instruction takes (names without `--`)
FLAGS = {
    "FROM": {"platform"}, "RUN": {"mount", "network", "security"},
    "COPY": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "ADD": {"chown", "chmod", "link", "checksum", "keep-git-dir"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
    "ARG": set(), "CMD": set(), "ENTRYPOINT": set(), "ENV": set(), "EXPOSE": set(), "LABEL": set(),
    "MAINTAINER": set(), "ONBUILD": set(), "SHELL": set(), "STOPSIGNAL": set(), "USER": set(),
    "VOLUME": set(), "WORKDIR": set(),
}
_ESCAPE_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.I)
_DIRECTIVE = re.compile(r"^#\s*[a-z]+\s*=.*$", re.I)


class SyntaxProblem(InvalidArgument):
    """A Containerfile that cannot be built as written: `file:line: problem`."""


@dataclasses.dataclass(frozen=True)
class Heredoc:
    name: str
    content: str


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One instruction as written: `args` are raw words (quotes and variables
    still in them, except in JSON form, which is final)."""

    cmd: str
    args: tuple[str, ...]
    flags: tuple[tuple[str, str], ...] = ()
    json: bool = False
    line: int = 0
    original: str = ""
    heredocs: tuple[Heredoc, ...] = ()
    #: ONBUILD's instruction
    sub: "Instruction | None" = None

    def flag(self, name: str, default: str | None = None) -> str | None:
        """The flag's last value (`--name=value`), or `default`."""
        values = [value for key, value in self.flags if key == name]
        return values[-1] if values else default

    def flag_values(self, name: str) -> list[str]:
        return [value for key, value in self.flags if key == name]


@dataclasses.dataclass(frozen=True)
class Containerfile:
    instructions: tuple[Instruction, ...]
    escape: str = "\\"


def escape_character(text: str) -> str:
    """The `# escape=` directive's character (only among the leading directives)."""
    for line in text.splitlines():
        if not _DIRECTIVE.match(line.strip()):
            break
        match = _ESCAPE_DIRECTIVE.match(line.strip())
        if match:
            return match.group(1)
    return "\\"


def _flags(raw: tuple[str, ...], cmd: str, where: str) -> tuple[tuple[str, str], ...]:
    flags = []
    for item in raw:
        name, sep, value = item.removeprefix("--").partition("=")
        if name not in FLAGS[cmd]:
            raise SyntaxProblem(f"{where}: unknown flag: --{name}")
        if not sep and name not in ("link", "keep-git-dir", "parents"):
            raise SyntaxProblem(f"{where}: missing a value on flag: --{name}")
        flags.append((name, value if sep else "true"))
    return tuple(flags)


def _instruction(command, filename: str) -> Instruction:
    cmd = command.cmd.upper()
    where = f"{filename}:{command.start_line}"
    if cmd not in FLAGS:
        raise SyntaxProblem(f"{where}: unknown instruction: {command.cmd}")
    heredocs = tuple(Heredoc(doc.name, doc.content) for doc in command.heredocs)
    sub = None
    if cmd == "ONBUILD":
        if not command.sub_cmd:
            raise SyntaxProblem(f"{where}: ONBUILD requires at least one argument")
        sub_cmd = command.sub_cmd.upper()
        if sub_cmd in ("ONBUILD", "FROM", "MAINTAINER"):
            raise SyntaxProblem(f"{where}: {sub_cmd} isn't allowed as an ONBUILD trigger")
        if sub_cmd not in FLAGS:
            raise SyntaxProblem(f"{where}: unknown instruction: {command.sub_cmd}")
        sub = Instruction(sub_cmd, tuple(command.value), _flags(command.flags, sub_cmd, where),
                          command.json, command.start_line, command.original.split(None, 1)[1])
    args = tuple(command.value)
    if not args and not heredocs and cmd != "ONBUILD":
        raise SyntaxProblem(f"{where}: {cmd} requires at least one argument")
    minimum = {"COPY": 2, "ADD": 2, "ENV": 2, "LABEL": 2}.get(cmd, 1)
    if len(args) < minimum and cmd != "ONBUILD" and not (cmd in ("COPY", "ADD") and heredocs and args):
        raise SyntaxProblem(f"{where}: {cmd} requires at least {minimum} arguments")
    if cmd == "FROM" and len(args) not in (1, 3) or cmd == "FROM" and len(args) == 3 and args[1].upper() != "AS":
        raise SyntaxProblem(f"{where}: FROM requires either one or three arguments (FROM image [AS name])")
    if cmd in ("SHELL",) and not command.json:
        raise SyntaxProblem(f"{where}: SHELL requires the arguments to be in JSON form")
    return Instruction(cmd, args, () if sub else _flags(command.flags, cmd, where), command.json,
                       command.start_line, command.original, heredocs, sub)


def parse(text: str, filename: str = "Containerfile") -> Containerfile:
    """The instructions of a Containerfile; SyntaxProblem for anything Docker would refuse."""
    import dockerfile

    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise SyntaxProblem(f"{filename}: {exc}") from None
    instructions = tuple(_instruction(command, filename) for command in commands)
    first = next((i for i in instructions if i.cmd != "ARG"), None)
    if first is None or first.cmd != "FROM":
        line = f":{first.line}" if first else ""
        raise SyntaxProblem(f"{filename}{line}: no build stage in current context: "
                            "the first instruction must be FROM (only ARG may come before it)")
    return Containerfile(instructions, escape_character(text))
