"""`generate kube` (`kube generate`): pods, containers and volumes as Kubernetes
YAML (husk.presentation.kube); `kube play` (`play kube`) and `kube down`: the
YAML run as pods, and removed again (husk.presentation.kube_play)."""

from __future__ import annotations

import click

from ..define import InvalidArgument
from .common import CONTEXT


@click.command("kube", context_settings=CONTEXT)
@click.option("-s", "--service", is_flag=True, help="Add a Service for the published ports.")
@click.option("-f", "--filename", default="", help="Write the YAML to this file (default: stdout).")
@click.option("-t", "--type", "kind", default="pod", help="pod, or deployment (beyond podman 4.3).")
@click.argument("names", nargs=-1)
@click.pass_obj
def kube(session, service, filename, kind, names):
    """Print Kubernetes YAML for PODs, CONTAINERs and VOLUMEs."""
    from ..presentation.kube import generate

    if not names:
        raise InvalidArgument("you must provide at least one container, pod or volume name or id")
    write_yaml(generate(session.runtime, list(names), service=service, kind=kind), filename)


def write_yaml(text: str, filename: str) -> None:
    """`generate kube`'s YAML (local or the service's) to the file, or stdout."""
    if filename:
        with open(filename, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


def _documents(path: str) -> list[dict]:
    from ..presentation.kube_play import read_documents
    from .options import open_input

    with open_input(path) as stream:
        return read_documents(stream)


def _print_down(session, documents) -> None:
    from ..presentation.kube_play import down as take_down

    print_down(take_down(session.runtime, documents))


def print_down(removed: list[str]) -> None:
    """`kube down`'s lines (local and remote): the pods stopped and removed."""
    click.echo("Pods stopped:\n" + "".join(f"{pod_id}\n" for pod_id in removed)
               + "Pods removed:\n" + "".join(f"{pod_id}\n" for pod_id in removed), nl=False)


def print_played(volumes: list[str], pods: list[tuple[str, list[str]]]) -> None:
    """`kube play`'s lines as podman 4.3 prints them (local and remote): the volumes made, then
    each pod (`Pod:`, its ID, `Container:` or `Containers:`, their IDs, an empty line)."""
    text = "Volumes:\n" + "".join(f"{name}\n" for name in volumes) if volumes else ""
    for pod, containers in pods:
        text += f"Pod:\n{pod}\n"
        if containers:
            text += ("Container:\n" if len(containers) == 1 else "Containers:\n") + "".join(
                f"{ident}\n" for ident in containers)
        text += "\n"
    click.echo(text, nl=False)


@click.command("play", context_settings=CONTEXT)
@click.option("--replace", is_flag=True, help="Remove the pods the YAML makes first.")
@click.option("--down", is_flag=True, help="Remove the pods the YAML made, instead.")
@click.option("--start", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Start the pods (default true).")
@click.option("--network", "--net", multiple=True, help="The pods' network (as pod create's --network).")
@click.option("--configmap", multiple=True, help="YAML file(s) of ConfigMaps the pods' environment refers to.")
@click.option("--log-driver", default="", help="The containers' log driver: k8s-file (default), json-file, none.")
@click.option("--build/--no-build", default=None,
              help="Build every image that has a directory of its name (with a Containerfile) in the context "
                   "directory; by default only missing ones; --build=false: never.")
@click.option("--context-dir", default="", help="Where the images' directories are (default: beside FILE).")
@click.option("-q", "--quiet", is_flag=True, help="No pull or build progress.")
@click.argument("file")
@click.pass_obj
def play(session, replace, down, start, network, configmap, log_driver, build, context_dir, quiet, file):
    """Make (and start) the pods, containers and volumes of Kubernetes YAML (FILE, or - for stdin)."""
    import os

    from ..presentation.kube_play import images, play as play_documents

    from ..engine.run_options import parse_log_driver

    parse_log_driver(log_driver)
    documents = _documents(file)
    configmaps = [d for path in configmap for value in path.split(",") for d in _documents(value)]
    if any(d["kind"] != "ConfigMap" for d in configmaps):
        raise InvalidArgument("--configmap: the files may hold only ConfigMap documents")
    if down:
        _print_down(session, documents)
        return
    if replace:
        from ..presentation.kube_play import down as take_down

        take_down(session.runtime, documents)
    directory = context_dir or os.path.dirname(os.path.abspath(file)) if file != "-" else context_dir or "."
    for image in images(documents):
        _image(session, image, directory, build, quiet)
    made = play_documents(session.runtime, documents, start=start, network=list(network) or None,
                          configmaps=configmaps, log_driver=log_driver)
    print_played(made["Volumes"], list(made["PodContainers"].items()))


def _image(session, image: str, directory: str, build: bool | None, quiet: bool) -> None:
    """Ready `image` as podman 4.3's kube play does: built from DIRECTORY/NAME (NAME: the image's
    last path component without its tag, holding a Containerfile or Dockerfile) when --build, or
    when it is missing and --build is not false; else pulled when missing."""
    import os

    from ..define import NoSuchImage
    from ..storage.images import resolve_image
    from .registry import ensure_image

    base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    context = os.path.join(directory, base)
    buildable = bool(base) and any(os.path.isfile(os.path.join(context, name))
                                   for name in ("Containerfile", "Dockerfile"))
    try:
        resolve_image(session.runtime, image)
        missing = False
    except NoSuchImage:
        missing = True
    if buildable and (build or (build is None and missing)):
        _build(session, image, context, quiet)
    elif missing:
        ensure_image(session, image, quiet=quiet)


def _build(session, image: str, context: str, quiet: bool) -> None:
    import sys

    from ..build import build as run_build
    from ..build.builder import Options, Output

    def line(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    def raw(data: bytes) -> None:
        if not quiet:
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()

    run_build(session.runtime, context, Options(tags=[image], quiet=quiet), Output(line, raw))


@click.command("down", context_settings=CONTEXT)
@click.argument("file")
@click.pass_obj
def down_command(session, file):
    """Remove the pods (and their containers) that Kubernetes YAML made."""
    _print_down(session, _documents(file))


def register(group: click.Group) -> None:
    generate_group = click.Group("generate", help="Generate structured data.", context_settings=CONTEXT)
    generate_group.add_command(kube)
    group.add_command(generate_group)
    play_group = click.Group("play", help="Play Kubernetes YAML.", context_settings=CONTEXT)
    play_group.add_command(play, "kube")
    group.add_command(play_group)
    kube_group = click.Group("kube", help="Kubernetes YAML: generate, play, down.", context_settings=CONTEXT)
    kube_group.add_command(kube, "generate")
    kube_group.add_command(play)
    kube_group.add_command(down_command)
    group.add_command(kube_group)
