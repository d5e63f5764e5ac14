"""Reading the command line the way cobra, podman's parser, reads it.

podman users type what cobra accepts: global flags anywhere before the
container's command (`husk run --runtime runc busybox`, `husk ps --root X`),
booleans with a value (`--rm=false`, `-i=true`, `-a=false`), `-e=K=V`, and `--`
to end the flags.  click reads less, so :func:`normalize` rewrites argv before
click sees it: global flags move in front of the verb, a boolean's value
becomes the flag or its absence, and values are checked with podman's
messages (`invalid argument "x" for "-t, --time" flag: ...`).  Short flags
combined (`-dit`) click reads itself.

The walk follows click's own rules for each command: an option that takes a
value consumes the next token, and on a command that does not allow
interspersed arguments (run, create, exec) the first argument ends the flags,
so whatever follows the image belongs to the container.
"""

from __future__ import annotations

import re

import click

from ..define import InvalidArgument

#: cobra's (Go's strconv.ParseBool) spellings of a boolean
TRUE = {"1", "t", "T", "TRUE", "true", "True"}
FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class BadFlagValue(InvalidArgument):
    """A value cobra would refuse: podman's message, then its hint line."""

    def __init__(self, message: str, command_path: str) -> None:
        super().__init__(f"{message}\nSee '{command_path} --help'")


def normalize(root: click.Group, argv: list[str], prog: str = "husk") -> list[str]:
    """argv as click reads it (see the module's docstring)."""
    globals_ = _Options(root)
    hoisted: list[str] = []
    path: list[str] = []
    command: click.Command = root
    rest = list(argv)
    # the verb path: root and group flags are globals; names descend into groups
    while isinstance(command, click.Group) and rest:
        token = rest[0]
        if token == "--" or not token.startswith("-") or token == "-":
            sub = command.commands.get(token)
            if sub is None:
                return hoisted + path + rest  # click reports the unknown verb
            path.append(rest.pop(0))
            command = sub
            continue
        consumed = globals_.take(rest, f"{prog} {' '.join(path)}".strip())
        if consumed is None:
            return hoisted + path + rest  # --help, --version, or an unknown flag: click's to say
        hoisted += consumed
    if isinstance(command, click.Group):
        return hoisted + path + rest
    own = _Options(command)
    command_path = " ".join([prog, *path])
    interspersed = command.context_settings.get("allow_interspersed_args", True)
    out: list[str] = []
    while rest:
        token = rest[0]
        if token == "--":
            out += rest
            break
        if not token.startswith("-") or token == "-":
            if not interspersed:
                out += rest
                break
            out.append(rest.pop(0))
            continue
        consumed = own.take(rest, command_path)
        if consumed is not None:
            out += consumed
            continue
        consumed = globals_.take(rest, command_path)
        if consumed is not None:
            hoisted += consumed
            continue
        out.append(rest.pop(0))  # unknown: click says so
    return hoisted + path + out


class _Options:
    """A command's options by name, and how each takes its value."""

    def __init__(self, command: click.Command) -> None:
        self.by_name: dict[str, click.Option] = {}
        for param in command.params:
            if isinstance(param, click.Option):
                for name in (*param.opts, *param.secondary_opts):
                    self.by_name[name] = param

    def take(self, rest: list[str], command_path: str) -> list[str] | None:
        """Pop the option at rest[0] (with its value) and return it as click
        tokens, or None (leaving rest alone) when it is not one of these."""
        token = rest[0]
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            option = self.by_name.get(name)
            if option is None:
                return None
            rest.pop(0)
            if _is_flag(option):
                return self._flag(option, name, value if eq else None, command_path)
            if not eq:
                if not rest:
                    return [name]  # click: "requires an argument"
                value = rest.pop(0)
            _check(option, value, command_path)
            return [name, value]
        return self._short(rest, command_path)

    def _short(self, rest: list[str], command_path: str) -> list[str] | None:
        """`-a`, `-a=false`, `-e=K=V`, `-eK=V`, and clusters of them (`-dit`, `-dit=false`:
        `=` gives the last letter its value; a letter that takes a value takes the rest)."""
        token = rest[0]
        if self.by_name.get(token[:2]) is None:
            return None
        rest.pop(0)
        out: list[str] = []
        index = 1
        while index < len(token):
            name = "-" + token[index]
            option = self.by_name.get(name)
            if option is None:
                return out + ["-" + token[index:]]  # click reports the unknown letter
            value = token[index + 1:]
            if value.startswith("=") and value != "=":  # `-e=V`; a bare `-e=` is the value "=" (pflag's reading)
                value = value[1:]
            spelled = _long_name(option, name)
            if _is_flag(option):
                if token[index + 1:index + 2] == "=":
                    return out + self._flag(option, spelled, value, command_path)
                out.append(spelled)
                index += 1
                continue
            if not value:
                if not rest:
                    return out + [name]  # click: "requires an argument"
                value = rest.pop(0)
            _check(option, value, command_path)
            return out + [spelled, value]
        return out

    @staticmethod
    def _flag(option: click.Option, name: str, value: str | None, command_path: str) -> list[str]:
        if value is None or value in TRUE:
            return [name]
        if value in FALSE:
            return [option.secondary_opts[0]] if option.secondary_opts else []
        raise BadFlagValue(f'invalid argument "{value}" for "{_label(option)}" flag: '
                           f'strconv.ParseBool: parsing "{value}": invalid syntax', command_path)


def _long_name(option: click.Option, name: str) -> str:
    """A short option as click reads it fastest, by its long name: click tries
    each option as a long one first, and a short one fails that try with a
    NoSuchOption, which imports difflib and ranks the close matches (about
    1 ms of `ps -a`)."""
    return next((other for other in option.opts if other.startswith("--")), name)


def _is_flag(option: click.Option) -> bool:
    return option.is_flag or option.count


def _label(option: click.Option) -> str:
    """cobra's name of a flag: `-t, --time`."""
    shorts = [o for o in option.opts if not o.startswith("--")]
    longs = [o for o in option.opts if o.startswith("--")]
    return ", ".join(shorts[:1] + longs[:1])


def _check(option: click.Option, value: str, command_path: str) -> None:
    """Booleans and integers as strconv parses them, with cobra's message."""
    kind = option.type
    if isinstance(kind, click.types.BoolParamType):
        if value not in TRUE | FALSE:
            raise BadFlagValue(f'invalid argument "{value}" for "{_label(option)}" flag: '
                               f'strconv.ParseBool: parsing "{value}": invalid syntax', command_path)
    elif isinstance(kind, (click.types.IntParamType, click.types.IntRange)):
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            raise BadFlagValue(f'invalid argument "{value}" for "{_label(option)}" flag: '
                               f'strconv.ParseInt: parsing "{value}": invalid syntax', command_path)
