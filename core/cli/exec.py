"""`husk exec`: run a command in a running container (podman's flags and exit codes).

The exit code is the command's; 127 when it does not exist, 126 when it cannot
be run, 125 when husk fails.  `-d` prints the session id and leaves the
command running.  Attached, output is copied until the command's monitor
closes the connection; with `-i` stdin is copied too.  With `-t` and `-i` on a
terminal, the local terminal is raw for the session, its window size follows
to the command's terminal, and the detach keys leave the command running and
exit 0; anywhere else (a pipe, no `-t`) every byte of stdin is data.
"""

from __future__ import annotations

import os
import sys

import click

from ..presentation.terminal import DEFAULT_DETACH_KEYS
from .common import CONTEXT


@click.command("exec", context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background; print the session id.")
@click.option("--detach-keys", default=DEFAULT_DETACH_KEYS, show_default=True,
              help='Keys that detach and leave the command running ("" disables).')
@click.option("-e", "--env", multiple=True, help="Set an environment variable (K=V, or K from the host).")
@click.option("--env-file", multiple=True, help="Read environment variables from a file.")
@click.option("-i", "--interactive", is_flag=True, help="Keep stdin open and copy it to the command.")
@click.option("--privileged", is_flag=True, help="Give the command every capability.")
@click.option("--preserve-fds", type=int, default=0, help="Pass file descriptors 3 .. 2+N on to the command.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-u", "--user", default="", help="Run as USER[:GROUP] (names from the container's /etc/passwd).")
@click.option("-w", "--workdir", default="", help="Working directory inside the container.")
@click.option("-l", "--latest", is_flag=True, help="In the container created last (every argument is the command).")
@click.argument("name")
@click.argument("command", nargs=-1)
@click.pass_obj
def exec_(session, detach, detach_keys, env, env_file, interactive, privileged, preserve_fds, tty, user,
          workdir, latest, name, command):
    """Run COMMAND in the running container NAME; exits with the command's exit code."""
    if latest:  # NAME was the command's first word
        from .targets import latest_container

        name, command = latest_container(session), (name, *command)
    from ..engine.exec_session import ExecLaunch, check_arguments

    check_arguments(list(command), preserve_fds)  # before husk opens files that could take fd 3
    from ..engine.config import ROOTLESS_ENV, is_rootless

    if is_rootless() and ROOTLESS_ENV not in os.environ:
        session.runtime  # joins the user's namespaces (husk.engine.rootless): the monitor must start inside
    # the session's monitor first: its interpreter starts while the rest is imported and looked up
    launch = ExecLaunch(detach=detach, preserve_fds=preserve_fds, runroot=session.runroot)
    try:
        from ..presentation.terminal import parse_detach_keys, window_size
        from .options import parse_env

        keys = parse_detach_keys(detach_keys)
        terminal = next((fd for fd in (0, 1) if window_size(fd) is not None), None)
        size = window_size(terminal) if tty and terminal is not None else None
        process = session.runtime.container(name).exec_start(
            list(command), env=parse_env(env, env_file, exec_=True), user=user, workdir=workdir, tty=tty,
            privileged=privileged, interactive=interactive and not detach, preserve_fds=preserve_fds,
            detach=detach, console_size=size, launch=launch)
    except BaseException:
        launch.abandon()
        raise
    if detach:
        click.echo(process.id)
        return
    if _copy(process.client, stdin=interactive, raw=tty and interactive and terminal == 0,
             terminal=terminal if tty else None, keys=keys):
        raise SystemExit(0)
    raise SystemExit(process.wait())


def _copy(client, *, stdin: bool, raw: bool, terminal: int | None, keys: bytes) -> bool:
    """Copy output (and stdin) until the output ends (False) or the user typed
    the detach keys (True), with the local terminal raw when `raw`."""
    import contextlib

    from ..presentation.terminal import raw_mode
    from .attach import copy_streams

    with contextlib.ExitStack() as stack:
        if raw:
            stack.enter_context(raw_mode(0))
        # detach keys only from a raw terminal: piped input is data (see copy_streams)
        detached = copy_streams(client, stdin=stdin, keys=keys if raw else b"", window_fd=terminal)
        if detached:
            client.close()
            stack.close()  # the terminal back to normal before the newline
            if terminal is not None and os.isatty(1):
                sys.stdout.buffer.write(b"\n")
                sys.stdout.flush()
        return detached


def register(group: click.Group) -> None:
    group.commands["container"].add_command(exec_)
    group.add_command(exec_)
