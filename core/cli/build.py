"""`husk build` (and `husk image build`): an image from a Containerfile (see husk.build)."""

from __future__ import annotations

import click

from .common import CONTEXT
from .registry import AUTHFILE, CERT_DIR, CREDS, TLS_VERIFY

#: podman's isolations: husk runs every RUN step as a container on the OCI runtime
ISOLATIONS = ("oci", "chroot", "rootless")


def _pairs(values, what: str, from_environment: bool = False) -> dict[str, str]:
    import os

    from ..define import InvalidArgument

    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {value!r}: KEY=VALUE")
        if not sep:
            if not from_environment:
                raise InvalidArgument(f"invalid {what} {value!r}: KEY=VALUE")
            if key not in os.environ:
                continue
            val = os.environ[key]
        pairs[key] = val
    return pairs


@click.command(context_settings=CONTEXT)
@click.option("-t", "--tag", multiple=True, help="Name the image (may be given several times).")
@click.option("-f", "--file", "file_", default="", help="The Containerfile (default: Containerfile or "
              "Dockerfile in the context); may lie outside the context.")
@click.option("--build-arg", multiple=True, help="KEY=VALUE for an ARG (KEY alone: from the environment).")
@click.option("--build-arg-file", multiple=True, help="A file of KEY=VALUE lines (# comments) for ARGs.")
@click.option("--platform", default="", help="Accepted when it is the host's platform (OS/ARCH).")
@click.option("--label", multiple=True, help="KEY=VALUE label of the image.")
@click.option("--target", default="", help="Build up to this stage (by name).")
@click.option("--no-cache", is_flag=True, help="Do not use cached layers (they are still written).")
@click.option("--layers", type=click.BOOL, default=True, is_flag=False, flag_value=True, show_default=True,
              help="Cache each step's result (--layers=false: no cache, the new content as one layer).")
@click.option("--format", "format_", envvar="BUILDAH_FORMAT", default="oci", show_default=True,
              help="Image format: oci or docker.")
@click.option("--iidfile", default="", help="Write the image id to this file.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image id.")
@click.option("--squash", is_flag=True, help="The new layers of the target stage as one layer.")
@click.option("--squash-all", is_flag=True, help="The whole image as one layer.")
@click.option("--jobs", type=click.IntRange(1), default=2, show_default=True,
              help="How many independent stages may build at once.")
@click.option("--secret", multiple=True, help="id=ID,src=FILE (or env=VAR): for RUN --mount=type=secret.")
@click.option("--network", default="host", show_default=True, help="Network of RUN containers: host or none.")
@click.option("--pull", is_flag=False, flag_value="always", default="missing", show_default=True,
              help="Pull FROM images: always (--pull alone, true), missing (false), never, newer.")
@click.option("--rm/--no-rm", "remove", default=True, help="Accepted: RUN containers are always removed.")
@click.option("--force-rm", type=click.BOOL, default=False, is_flag=False, flag_value=True,
              help="Accepted: RUN containers are always removed, even after a failure.")
@click.option("--annotation", multiple=True, help="KEY=VALUE annotation of the image's OCI manifest.")
@click.option("--cache-from", multiple=True, help="A repository to pull cached steps from (tagged with their keys).")
@click.option("--cache-to", multiple=True, help="A repository to push each built step to (tagged with its key).")
@click.option("--isolation", envvar="BUILDAH_ISOLATION", default="oci", show_default=True,
              help="How RUN steps are isolated: oci (a container on the OCI runtime) is the one husk has.")
@AUTHFILE
@CERT_DIR
@CREDS
@TLS_VERIFY
@click.argument("context", required=False, default=".")
@click.pass_obj
def build(session, tag, file_, build_arg, build_arg_file, platform, label, target, no_cache, layers, format_,
          iidfile, quiet, squash, squash_all, jobs, secret, network, pull, remove, force_rm, annotation, cache_from,
          cache_to, isolation, authfile, cert_dir, creds, tls_verify, context):
    """Build an image from a Containerfile and a context (a directory, or `-`: a tar on stdin)."""
    import sys
    import threading

    from ..build import build as run_build
    from ..build.builder import BuildCancelled, Options, Output
    from ..define import InvalidArgument
    from .registry import _pull_options

    if network not in ("host", "none"):
        raise InvalidArgument(f"unsupported build network {network!r}: host or none")
    _check_isolation(isolation)
    if platform:
        from ..build.builder import check_platform

        check_platform(platform)
    build_args = {**_arg_files(build_arg_file), **_pairs(build_arg, "build arg", from_environment=True)}
    cancelled = threading.Event()
    options = Options(cancelled=cancelled, tags=list(tag), build_args=build_args,
                      labels=_pairs(label, "label"), target=target, no_cache=no_cache, layers=layers,
                      format=format_, network=network, quiet=quiet, secrets=_secrets(secret), jobs=jobs,
                      squash=squash, squash_all=squash_all,
                      pull={"true": "always", "false": "missing"}.get(pull.lower(), pull.lower()),
                      annotations=_pairs(annotation, "annotation"), cache_from=list(cache_from),
                      cache_to=list(cache_to),
                      registry=_pull_options(tls_verify=tls_verify, cert_dir=cert_dir, authfile=authfile,
                                             creds=creds))

    def raw(data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def line(text: str) -> None:
        print(text, flush=True)

    view = None
    if sys.stdout.isatty() and not quiet:
        from .build_view import CompactView

        view = CompactView(sys.stdout)
    _cancel_on_signals(cancelled)
    try:
        image_id = run_build(session.runtime, context, options,
                             Output(view.line, view.raw) if view else Output(line, raw), containerfile=file_,
                             stdin=sys.stdin.buffer)
    except BaseException as exc:
        if view is not None:
            view.failed()
        if isinstance(exc, BuildCancelled) and cancelled.is_set():
            raise SystemExit(130) from None
        raise
    if iidfile:
        with open(iidfile, "w") as file:
            file.write(f"sha256:{image_id}")
    print(image_id, flush=True)


def _check_isolation(isolation: str) -> None:
    """`--isolation` (or BUILDAH_ISOLATION): oci, the only one husk has, or podman's others refused, saying why."""
    from ..define import InvalidArgument

    if isolation == "oci":
        return
    if isolation in ISOLATIONS:
        raise InvalidArgument(f"--isolation {isolation}: husk runs each RUN step as a container on the OCI "
                              "runtime; only oci isolation is supported")
    raise InvalidArgument(f"unrecognized isolation type {isolation!r}: oci, chroot or rootless")


def _arg_files(paths) -> dict[str, str]:
    """`--build-arg-file`: KEY=VALUE lines, blank lines and `#` comments skipped (an
    extension beyond podman 4.3, as later podman reads it); `--build-arg` wins."""
    lines = []
    for path in paths:
        with open(path, encoding="utf-8") as file:
            lines += [line.strip() for line in file if line.strip() and not line.lstrip().startswith("#")]
    return _pairs(lines, "build arg", from_environment=True)


def _secrets(values) -> dict[str, str]:
    """`--secret id=ID,src=FILE` or `id=ID,env=VAR` (kept in a private file for the build's life)."""
    import os
    import tempfile

    from ..define import InvalidArgument

    secrets = {}
    for value in values:
        fields = dict(item.partition("=")[::2] for item in value.split(","))
        secret_id = fields.get("id") or os.path.basename(fields.get("src", ""))
        if fields.get("env"):
            if fields["env"] not in os.environ:
                raise InvalidArgument(f"secret {secret_id!r}: environment variable {fields['env']} is not set")
            import atexit

            handle = tempfile.NamedTemporaryFile("w", prefix="husk-secret-")  # 0600
            handle.write(os.environ[fields["env"]])
            handle.flush()
            # closed (deleted) at exit: registered, since the CLI's quick exit skips the
            # interpreter's teardown when no atexit callback is pending (husk.cli._exit)
            atexit.register(handle.close)
            fields["src"] = handle.name
        if not secret_id or not fields.get("src") or not os.path.isfile(fields["src"]):
            raise InvalidArgument(f"invalid secret {value!r}: id=ID,src=FILE (an existing file) or id=ID,env=VAR")
        secrets[secret_id] = os.path.abspath(fields["src"])
    return secrets


def _cancel_on_signals(cancelled) -> None:
    """Ctrl-C and SIGTERM cancel the build as a client that goes away cancels the API's:
    the stages stop at their next step (a running RUN is killed), their containers,
    mounts and intermediate images are cleaned up, and husk exits 130.  Not a
    KeyboardInterrupt once stage threads run: raised in the main thread while the stage
    pool was still starting a thread, it left that stage running, unwaited for, after
    the build's cleanup (its intermediate image stayed).  Before that (reading the
    context, from stdin maybe) nothing runs beside the main thread: it stops at once."""
    import signal
    import threading

    def cancel(signum, frame):
        cancelled.set()
        if threading.active_count() == 1:
            raise KeyboardInterrupt

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, cancel)


def register(group: click.Group) -> None:
    group.add_command(build)
    group.commands["image"].add_command(build)
