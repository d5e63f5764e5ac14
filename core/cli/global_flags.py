"""podman 4.3's global flags beyond --root, --runroot and --runtime.

Every one is either honoured or refused with one line saying why; none is
silently ignored.  :func:`normalize` in :mod:`husk.cli.cobra` moves a global
flag given after the verb in front of it, so these options only ever parse on
the root command.  What the engine needs from them (runtime flags, the events
backend) is kept in the click context's `meta`, which the Session reads when
it builds the Runtime.

`--url`, `--connection`, `--remote` and `--identity` make the command a client
of an API service (husk.cli.remote).  Flags of other issues' features
(`--network-cmd-path`, `--network-config-dir`, `--volumepath`) come with those
features.
"""

from __future__ import annotations

import os

import click

from ..define import InvalidArgument

META = "husk.global_flags"

#: podman's --log-level values, and what each is in husk's four levels
LOG_LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "warn": "warn", "warning": "warn",
              "error": "error", "fatal": "error", "panic": "error"}


class LogLevel(click.ParamType):
    """podman's eight levels and its message for anything else."""

    name = "level"

    def convert(self, value, param, ctx):
        if value not in LOG_LEVELS:
            raise InvalidArgument(f'Log Level "{value}" is not supported, choose from: '
                                  + ", ".join(LOG_LEVELS), exit_code=1)
        return LOG_LEVELS[value]


def _store(key: str):
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value not in (None, (), False):
            ctx.meta.setdefault(META, {})[key] = value
    return callback


def _only(key: str, allowed: tuple[str, ...], why: str, invalid: str = ""):
    """A flag husk honours for `allowed` values (what it does anyway) and refuses otherwise, saying why."""
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is None or value in allowed:
            return
        if invalid and value not in invalid.split():
            raise InvalidArgument(f'"{value}" is not a valid {key.replace("_", " ")}')
        raise InvalidArgument(f"{param.opts[0]} {value}: {why}")
    return callback


def _noout(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """podman's --noout: nothing on stdout (the container's output included, as podman's os.Stdout)."""
    if value:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


def _syslog(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """podman's --syslog: what husk says on stderr goes to syslog too (lines, as `husk`)."""
    if not value:
        return
    if not os.path.exists(SYSLOG_SOCKET):
        raise InvalidArgument(f"--syslog: no syslog socket on this host ({SYSLOG_SOCKET} is missing)")
    import sys
    import syslog

    syslog.openlog("husk", syslog.LOG_PID, syslog.LOG_USER)
    sys.stderr = _SyslogTee(sys.stderr, syslog.syslog)


SYSLOG_SOCKET = "/dev/log"


class _SyslogTee:
    """A text stream that also sends each whole line written to it to syslog."""

    def __init__(self, stream, send) -> None:
        self.stream, self.send, self.pending = stream, send, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line:
                self.send(line)
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def options() -> list[click.Option]:
    """The global flags added to the root command (see the module's docstring)."""
    return [
        click.Option(["--runtime-flag"], multiple=True, expose_value=False, callback=_store("runtime_flags"),
                     help="Add a global flag for the OCI runtime (`debug`, `log-format=json`): --FLAG."),
        click.Option(["--events-backend"], expose_value=False,
                     help="file (default), or none: record no events (`events` then refuses).",
                     callback=_events_backend),
        click.Option(["--cgroup-manager"], expose_value=False, help="cgroupfs, the only one husk drives.",
                     callback=_only("cgroup_manager", ("cgroupfs",),
                                    "husk places containers' cgroups itself (cgroupfs); it does not "
                                    "ask systemd for them", invalid="cgroupfs systemd")),
        click.Option(["--storage-driver"], expose_value=False, help="overlay, the only one husk has.",
                     callback=_only("storage_driver", ("overlay", ""),
                                    "husk stores layers with overlay only (copying where overlay is missing)")),
        click.Option(["--storage-opt"], multiple=True, expose_value=False, help="Refused: husk's storage takes none.",
                     callback=_storage_opts),
        click.Option(["--tmpdir"], expose_value=False, help="Refused: husk's transient state is under --runroot.",
                     callback=_refuse("husk keeps its transient state under the run root: use --runroot")),
        click.Option(["--namespace"], expose_value=False, help="Refused: husk has no libpod namespaces.",
                     callback=_refuse("husk has no libpod namespaces: give a separate view its own --root "
                                      "and --runroot", allowed=("",))),
        click.Option(["--conmon"], expose_value=False, help="Refused: husk runs its own monitor.",
                     callback=_refuse("husk runs its own monitor (husk.monitor), not conmon")),
        click.Option(["--hooks-dir"], multiple=True, expose_value=False, callback=_store("hooks_dirs"),
                     help="Directory of OCI hook definitions (JSON) to run, as podman does (repeatable)."),
        click.Option(["--noout"], is_flag=True, expose_value=False, callback=_noout,
                     help="Print nothing on stdout."),
        click.Option(["--syslog"], is_flag=True, expose_value=False, callback=_syslog,
                     help="Send husk's error messages to syslog as well."),
        click.Option(["--url"], envvar="CONTAINER_HOST", expose_value=False, callback=_remote("url"),
                     help="Be a client of the API service at unix:///PATH, tcp://HOST:PORT or "
                          "ssh://USER@HOST[:PORT]/PATH/TO/SOCKET."),
        click.Option(["--connection"], envvar="CONTAINER_CONNECTION", expose_value=False,
                     callback=_remote("connection"), help="Be a client of this `system connection`."),
        click.Option(["--remote"], is_flag=True, expose_value=False, callback=_remote("remote"),
                     help="Be a client of the default connection (or the local service's socket)."),
        click.Option(["--identity"], expose_value=False, callback=_remote("identity"),
                     help="ssh key file for an ssh:// destination."),
    ]


def _remote(key: str):
    """The remote flags, kept where husk.cli.remote reads them; any of them but --identity makes the command remote."""
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value:
            remote = ctx.meta.setdefault("husk.remote", {})
            remote[key] = value
            if key != "identity":
                remote["on"] = True
    return callback


def _events_backend(ctx: click.Context, param: click.Parameter, value) -> None:
    """file, none, or journald where a journal runs (refused, saying why, where none does)."""
    if value == "journald":
        from ..state.journal import JOURNAL_SOCKET, journal_running

        if not journal_running():
            raise InvalidArgument(f"--events-backend journald: no systemd journal is running on this host "
                                  f"({JOURNAL_SOCKET} is missing): use file or none")
    if value in ("file", "none", "journald"):
        ctx.meta.setdefault(META, {})["events_backend"] = value
    elif value is not None:
        raise InvalidArgument(f'"{value}" is not a valid events backend')


def _refuse(why: str, allowed: tuple[str, ...] = ()):
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is not None and value not in allowed:
            raise InvalidArgument(f"{param.opts[0]}: {why}")
    return callback


def _storage_opts(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    """`--storage-opt ""` clears the options, which husk's overlay does not have: fine.  Any option is refused."""
    for item in value:
        if item:
            raise InvalidArgument(f"--storage-opt {item}: husk's overlay storage takes no options")


def settings(ctx: click.Context | None = None) -> dict:
    """What the global flags asked of the engine: runtime_flags, events_backend, hooks_dirs."""
    ctx = ctx or click.get_current_context(silent=True)
    return ctx.meta.get(META, {}) if ctx is not None else {}


def configure_logging(level: str) -> None:
    """The engine's warnings on stderr as podman's logrus writes them on a
    terminal (`WARN[0010] message`: the level, then the seconds since start).
    Set up at the first warning (husk.define.logger), not here: most commands
    never warn, and importing logging is a sixth of an `inspect`'s own work."""
    import time

    from .. import define

    started = time.monotonic()
    define._log_setup = lambda: _logrus(level, started)


def _logrus(level: str, started: float) -> None:
    import logging
    import time

    class _Logrus(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            name = {"WARNING": "WARN", "CRITICAL": "FATA"}.get(record.levelname, record.levelname[:4])
            return f"{name}[{int(time.monotonic() - started):04d}] {record.getMessage()}"

    handler = logging.StreamHandler()
    handler.setFormatter(_Logrus())
    logger = logging.getLogger("husk")
    logger.handlers[:] = [handler]
    logger.setLevel({"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING}.get(level, logging.ERROR))
