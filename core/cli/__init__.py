"""The `husk` command line: podman's verbs, flags, exit codes and messages.

The CLI is a thin layer over :class:`husk.Runtime` and :class:`husk.Container`.
Verbs live in modules by group (container, image, system); each is registered
both at the top level (`husk ps`) and under its group (`husk container ps`), as
podman does.  Errors are one line on stderr, `Error: <message>`, with the exit
code the error carries (125 engine, 126 cannot invoke, 127 not found); a
traceback appears only with `--log-level debug`.
"""

from __future__ import annotations

import sys

import click

from ..define import EXIT_ENGINE, HuskError
from .common import CONTEXT
from .global_flags import LogLevel



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


@click.group(context_settings=CONTEXT)
@click.option("--root", envvar="HUSK_ROOT", help="Storage root (default /var/lib/husk).")
@click.option("--runroot", envvar="HUSK_RUNROOT", help="Run root for transient files (default /run/husk).")
@click.option("--runtime", "runtime_name", help="OCI runtime for new containers (runc, crun, ...).")
@click.option("--log-level", type=LogLevel(), default="warn", show_default=True,
              help="Diagnostics on stderr (trace, debug, info, warn, warning, error, fatal, panic); "
                   "debug also shows tracebacks.")
@click.version_option(package_name="husk", prog_name="husk", message="husk version %(version)s")
@click.pass_context
def cli(ctx: click.Context, root, runroot, runtime_name, log_level) -> None:
    """husk: manage containers on real OCI runtimes, without a daemon."""
    ctx.obj = Session(root, runroot, runtime_name, log_level)


def _register() -> None:
    from . import (attach, changes, checkpoint, commit, container, cp, exec, image, image_transfer, network, ops,
                   prune, registry, secret, system, volume)

    for module in (container, image, image_transfer, registry, commit, system, attach, ops, exec, checkpoint,
                   changes, cp, prune, network,
                   volume, secret):
        module.register(cli)
    from .global_flags import options

    cli.params.extend(options())


def main() -> None:
    _register()
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
    sys.exit(code if isinstance(code, int) else 0)
