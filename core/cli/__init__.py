"""The `husk` command line: podman's verbs, flags, exit codes and messages.

The CLI is a thin layer over :class:`husk.Runtime` and :class:`husk.Container`.
Verbs live in modules by group (container, image, system); each is registered
both at the top level (`husk ps`) and under its group (`husk container ps`), as
podman does.  Errors are one line on stderr, `Error: <message>`, with the exit
code the error carries (125 engine, 126 cannot invoke, 127 not found); a
traceback appears only with `--log-level debug`.

Start-up is most of what a short command costs, so a command imports only the
module of its verb (:class:`LazyGroup`: click's documented way to load
subcommands lazily), `--version` reads husk's own `__version__` rather than
asking importlib.metadata (about 20 ms), and msgspec's parts husk never runs
are left unloaded (:mod:`husk.cli.lean_imports`).

The cyclic garbage collector of the CLI's process runs after 50,000 net
allocations rather than Python's 700: a command's imports and records are
live until it exits, so the ~50 collections of a `ps -a` of 200 containers
(13.5M instructions, 7% of it; 5% of an `inspect`) found nothing worth the
walk.  A long-running command (`logs -f`, `ps --watch`) still collects, in
larger batches; the API service takes Python's threshold back (`system service`).
"""

from __future__ import annotations

import gc

gc.set_threshold(50_000, *gc.get_threshold()[1:])  # first: the imports below allocate most (see above)

from . import lean_imports

lean_imports.install()  # before click (uuid) and msgspec are imported

import functools
import importlib
import os
import sys

import click

from .. import __version__
from ..define import EXIT_ENGINE, HuskError
from .common import CONTEXT, LeanHelp
from .global_flags import LogLevel

#: every verb module, in registration order (a module adding to a group comes
#: after the module that makes the group)
MODULES = ("container", "reading", "image", "image_transfer", "registry", "commit", "system", "attach", "ops", "exec",
           "checkpoint", "changes", "cp", "prune", "network", "volume", "secret", "stats", "disk", "health", "pod",
           "build", "kube", "connections", "manifest")
#: group -> the modules adding to it, the one making it first
GROUPS = {
    "container": ("container", "reading", "attach", "ops", "exec", "checkpoint", "changes", "cp", "prune", "commit",
                  "network", "stats"),
    "image": ("image", "image_transfer", "registry", "commit", "prune", "build"),
    "system": ("system", "disk", "connections"),
    "builder": ("disk",),
    "network": ("network",),
    "volume": ("volume",),
    "secret": ("secret",),
    "pod": ("pod",),
    "healthcheck": ("health",),
    "generate": ("kube",),
    "kube": ("kube",),
    "play": ("kube",),
    "manifest": ("manifest",),
}
#: top-level verb -> its module.  A verb missing here still works (every module
#: is then loaded); tests/unit/test_cli_lazy.py keeps this complete.
VERBS = {
    **dict.fromkeys(("create", "run", "init", "start", "stop", "kill", "rm", "wait", "logs"), "container"),
    **dict.fromkeys(("ps", "inspect"), "reading"),
    **dict.fromkeys(("import", "images", "rmi"), "image"),
    **dict.fromkeys(("tag", "untag", "save", "load", "history"), "image_transfer"),
    **dict.fromkeys(("pull", "push", "login", "logout", "search"), "registry"),
    **dict.fromkeys(("commit", "diff"), "commit"),
    "build": "build",
    **dict.fromkeys(("version", "info", "events", "unshare"), "system"),
    "attach": "attach", "exec": "exec", "cp": "cp", "port": "network", "stats": "stats",
    **dict.fromkeys(("pause", "unpause", "restart", "mount", "umount", "unmount", "export"), "ops"),
    **dict.fromkeys(("checkpoint", "restore"), "checkpoint"),
    **dict.fromkeys(("rename", "top", "update"), "changes"),
}
_loaded: set[str] = set()
#: sub-commands added to a group before its module made it: group -> [(command, name)]
_deferred: dict[str, list] = {}


class _DeferredGroup:
    """A group whose module is not loaded, as a verb module registering into it
    sees it: `husk pause` needs husk.cli.ops, not husk.cli.container (create's
    and run's options, ~1.2 ms) for the `container` group that ops adds to.
    What is added here goes into the group when its module makes it."""

    def __init__(self, group: str) -> None:
        self.group = group

    def add_command(self, command: click.Command, name: str | None = None) -> None:
        _deferred.setdefault(self.group, []).append((command, name))


def load(modules) -> None:
    """Register the verb modules named; a group a module makes gets lazily
    loaded sub-commands (:class:`_GroupVerbs`), and those that modules loaded
    before it added (:class:`_DeferredGroup`)."""
    needed = set(modules)
    for name in MODULES:
        if name in needed and name not in _loaded:
            _loaded.add(name)
            importlib.import_module(f"{__name__}.{name}").register(_Registering(cli))
            for group, members in GROUPS.items():
                made = dict.get(cli.commands, group)
                if members[0] == name and made is not None and not isinstance(made.commands, _GroupVerbs):
                    for command, command_name in _deferred.pop(group, ()):
                        made.add_command(command, command_name)
                    made.commands = _GroupVerbs(group, made.commands)
                    made.list_commands = functools.partial(_list_group, made)


class _Registering:
    """The top-level group as a verb module's ``register`` sees it: its
    ``commands[GROUP]`` of a group not made yet is a :class:`_DeferredGroup`
    (the group's module is loaded by a command that uses the group)."""

    def __init__(self, group: click.Group) -> None:
        self.add_command = group.add_command
        self.commands = self
        self._made = group.commands

    def __getitem__(self, name: str):
        made = dict.get(self._made, name)
        return _DeferredGroup(name) if made is None and name in GROUPS else self._made[name]


def _list_group(group: click.Group, ctx) -> list[str]:
    """A group's `--help`: every module of the group first."""
    load(GROUPS[group.name])
    return sorted(group.commands)


class _Verbs(dict):
    """The top-level commands: looking up a name not registered yet loads its
    module (click's ``get_command``, and anything else resolving a verb, looks up here)."""

    def __missing__(self, name):
        load(GROUPS.get(name, ())[:1] or ([VERBS[name]] if name in VERBS else MODULES))
        if name not in self:
            raise KeyError(name)
        return dict.get(self, name)

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default


class _GroupVerbs(_Verbs):
    """A group's sub-commands: one not registered yet loads the module of the
    top-level verb of that name when that module adds to this group (`container
    checkpoint`: husk.cli.checkpoint, not the group's ten other modules), else
    every module of the group."""

    def __init__(self, group: str, commands: dict) -> None:
        super().__init__(commands)
        self.group = group

    def __missing__(self, name):
        members = GROUPS[self.group]
        if VERBS.get(name) in members:
            load([VERBS[name]])
        if not dict.__contains__(self, name):
            load(members)
        if not dict.__contains__(self, name):  # not dict.__getitem__: it would call __missing__ again
            raise KeyError(name)
        return dict.get(self, name)


class LazyGroup(LeanHelp, click.Group):
    """The top-level group: a verb's module is imported when the verb is looked
    up; listing the verbs (`--help`) loads them all.  Its --help and --version
    are built without gettext (:class:`husk.cli.common.LeanHelp`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Verbs(self.commands)

    def list_commands(self, ctx):
        load(MODULES)
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        """With a remote flag (--url, --connection, --remote), the verb's remote version (husk.cli.remote_verbs)."""
        local = super().get_command(ctx, name)
        if not ctx.meta.get("husk.remote", {}).get("on"):
            return local
        load(GROUPS.get(name, ()))  # the remote group reads every local sub-command
        from .remote_verbs import command

        return command(name, local)



class Session:
    """Global flags, and the Runtime built from them on first use."""

    def __init__(self, root: str | None, runroot: str | None, runtime: str | None, log_level: str) -> None:
        self.root, self.runroot, self.runtime_name, self.log_level = root, runroot, runtime, log_level
        self._runtime = None

    @property
    def runtime(self):
        if self._runtime is None:
            from ..engine.runtime import Runtime

            from .global_flags import settings

            self._runtime = Runtime(self.root, self.runroot, self.runtime_name, **settings())
        return self._runtime


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """`--version`: click's version_option's output, without its gettext lookup for the help text."""
    if value and not ctx.resilient_parsing:
        click.echo(f"husk version {__version__}", color=ctx.color)
        ctx.exit()


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.option("--root", envvar="HUSK_ROOT", help="Storage root (default /var/lib/husk).")
@click.option("--runroot", envvar="HUSK_RUNROOT", help="Run root for transient files (default /run/husk).")
@click.option("--runtime", "runtime_name", help="OCI runtime for new containers (runc, crun, ...).")
@click.option("--log-level", type=LogLevel(), default="warn", show_default=True,
              help="Diagnostics on stderr (trace, debug, info, warn, warning, error, fatal, panic); "
                   "debug also shows tracebacks.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version and exit.")
@click.pass_context
def cli(ctx: click.Context, root, runroot, runtime_name, log_level) -> None:
    """husk: manage containers on real OCI runtimes, without a daemon."""
    ctx.obj = Session(root, runroot, runtime_name, log_level)
    from .global_flags import configure_logging

    configure_logging(log_level)


def _global_flags() -> None:
    """Add podman's other global flags to the root command (once)."""
    from .global_flags import options

    if "_global_flags" not in _loaded:
        _loaded.add("_global_flags")
        cli.params.extend(options())


def _register() -> None:
    """Every verb and the global flags: for what walks the whole command tree
    (the docs and conformance tests); a command loads only its own verb."""
    _global_flags()
    load(MODULES)


def _open_closed_streams() -> None:
    """A standard stream the caller closed (`2>&-`) becomes /dev/null, as podman's writes to a
    closed fd go nowhere.  Python leaves such a sys.stderr None: print(file=None) would write
    the message to stdout, a .flush() raise (exit 1), and the next file husk opens (a lock,
    the store) would take the fd, for a message or a child's output to land in."""
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        if getattr(sys, name) is None:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, os.fdopen(fd, "r" if fd == 0 else "w"))


def main() -> None:
    if sys.stdin is None or sys.stdout is None or sys.stderr is None:
        _open_closed_streams()
    sys.stderr.reconfigure(errors="surrogateescape")  # argv's bytes that are not UTF-8 print as given, as podman's
    _global_flags()
    argv = sys.argv[1:]
    debug = "--log-level=debug" in argv or ("--log-level", "debug") in zip(argv, argv[1:])
    try:
        from .cobra import normalize

        code = cli.main(args=normalize(cli, argv), prog_name="husk", standalone_mode=False)
    except click.exceptions.Abort:
        code = 130
    except click.NoSuchOption as exc:
        print(f"Error: unknown flag: {exc.option_name}", file=sys.stderr)
        code = EXIT_ENGINE
    except click.ClickException as exc:
        print(f"Error: {exc.format_message()}", file=sys.stderr)
        code = EXIT_ENGINE
    except HuskError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"Error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except SystemExit as exc:  # a verb's own exit code (run's, exec's, rm's): leave as below
        if not isinstance(exc.code, (int, type(None))):
            raise  # a message: Python prints it
        code = exc.code or 0
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
    except OSError as exc:
        if debug:
            raise
        print(f"Error: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        code = EXIT_ENGINE
    except Exception as exc:  # a bug: still one line, the traceback with --log-level debug
        if debug:
            raise
        print(f"Error: internal error: {type(exc).__name__}: {exc} (--log-level debug shows where)", file=sys.stderr)
        code = EXIT_ENGINE
    sys.stdout.flush()
    _exit(code if isinstance(code, int) else 0)


def _exit(code: int) -> None:
    """End the process.  Python's own exit tears down every module and runs a
    last garbage collection: about 10 ms, a sixth of `ps -a`, for nothing, as
    the kernel frees the memory and the LMDB map.  So the process leaves at
    once when that teardown has no work: no atexit callback (logging's
    flush, tempfile's finalizers, a caller's recorder), no thread but this
    one (threading's exit joins the others) and no profiler or tracer
    (`python -m cProfile` writes its report after the script); otherwise
    the ordinary way."""
    import atexit
    import threading

    if (atexit._ncallbacks() == 0 and threading.active_count() == 1
            and sys.getprofile() is None and sys.gettrace() is None):
        sys.stderr.flush()
        os._exit(code & 0xFF)
    sys.exit(code)
