"""Registry verbs: pull, push, login, logout, search; and `--pull` for run/create
(:func:`ensure_image`)."""

from __future__ import annotations

import sys
import threading
import time

import click

from .common import CONTEXT


def _tls_verify(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    from ..define import InvalidArgument

    raise InvalidArgument(f"invalid --tls-verify {value!r}: expected true or false")


def _credentials(creds: str | None) -> tuple[str, str] | None:
    """--creds USER[:PASSWORD] (the password asked for when missing)."""
    if not creds:
        return None
    user, sep, password = creds.partition(":")
    if not sep:
        import getpass

        password = getpass.getpass("Password: ")
    return user, password


AUTHFILE = click.option("--authfile", help="Path of the auth.json to use (default: podman's).")
CERT_DIR = click.option("--cert-dir", help="Directory of *.crt CAs and *.cert/*.key client pairs for TLS.")
CREDS = click.option("--creds", help="USER[:PASSWORD] for the registry (instead of auth.json).")
TLS_VERIFY = click.option("--tls-verify", "tls_verify", metavar="BOOL", is_flag=False, flag_value="true", default=None,
                          help="Require HTTPS and verify certificates (default: as registries.conf says).")


def connection_options(function):
    """--authfile, --cert-dir and --tls-verify, as every registry verb takes them."""
    return AUTHFILE(CERT_DIR(TLS_VERIFY(function)))


def transfer_options(function):
    """The flags pull and push share with podman."""
    function = click.option("-q", "--quiet", is_flag=True, help="Print nothing but the result.")(function)
    return connection_options(CREDS(function))


class TerminalProgress:
    """podman's lines on stderr ("Copying blob ... done"); on a terminal, one
    live bar per layer, redrawn at most ten times a second."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._lock = threading.Lock()
        self._layers: dict[str, list] = {}  # digest -> [done, size, status]
        self._drawn = 0
        self._last = 0.0

    def message(self, text: str) -> None:
        if self.live and text.startswith("Copying blob"):
            return  # the bar says it
        with self._lock:
            self._clear()
            print(text, file=self.stream, flush=True)
            self._draw(force=True)

    def layer_start(self, digest: str, size: int) -> None:
        with self._lock:
            self._layers[digest] = [0, size, ""]
            self._draw(force=True)

    def layer_advance(self, digest: str, amount: int) -> None:
        with self._lock:
            self._layers.setdefault(digest, [0, -1, ""])[0] += amount
            self._draw()

    def layer_done(self, digest: str, status: str) -> None:
        with self._lock:
            self._layers.setdefault(digest, [0, -1, ""])[2] = "skipped: already exists" \
                if status == "Already exists" else "done"
            self._draw(force=True)

    def _clear(self) -> None:
        if self.live and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}A\x1b[J")
            self._drawn = 0

    def _draw(self, force: bool = False) -> None:
        if not self.live or (not force and time.monotonic() - self._last < 0.1):
            return
        self._last = time.monotonic()
        self._clear()
        for digest, (done, size, status) in self._layers.items():
            if status:
                line = f"Copying blob {digest[7:19]} {status}"
            else:
                width = 30
                filled = int(width * done / size) if size > 0 else 0
                line = f"Copying blob {digest[7:19]} [{'=' * filled}{' ' * (width - filled)}] " \
                       f"{_human(done)} / {_human(size)}"
            self.stream.write(line + "\n")
        self._drawn = len(self._layers)
        self.stream.flush()


def _human(size: int) -> str:
    value = float(max(size, 0))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f}{unit}"
        value /= 1024
    return ""


def _pull_options(*, tls_verify=None, cert_dir=None, authfile=None, creds=None, platform="", os_="", arch="",
                  variant="", all_tags=False):
    from ..storage.pull import Platform, PullOptions

    return PullOptions(tls_verify=_tls_verify(tls_verify), cert_dir=cert_dir, authfile=authfile,
                       credentials=_credentials(creds), platform=Platform.parse(platform, os_, arch, variant),
                       all_tags=all_tags)


@click.command(context_settings=CONTEXT)
@transfer_options
@click.option("-a", "--all-tags", is_flag=True, help="Pull every tag of the repository.")
@click.option("--platform", default="", help="OS/ARCH[/VARIANT] to choose from a manifest list.")
@click.option("--os", "os_", default="", help="OS to choose from a manifest list (default: linux).")
@click.option("--arch", default="", help="Architecture to choose from a manifest list (default: the host's).")
@click.option("--variant", default="", help="Architecture variant to choose from a manifest list.")
@click.argument("references", nargs=-1, required=True)
@click.pass_obj
def pull(session, references, quiet, all_tags, **flags):
    """Pull images from a registry; prints each image's id."""
    from ..storage.pull import Progress, pull as pull_image

    options = _pull_options(all_tags=all_tags, **flags)
    for reference in references:
        progress = Progress() if quiet else TerminalProgress()
        for image in pull_image(session.runtime, reference, options, progress):
            click.echo(image.id)


def create_pull_options(function):
    """The flags run and create take for pulling their image (podman's names)."""
    for option in reversed([
        click.option("--pull", "pull_policy", default="missing", show_default=True,
                     help="Pull the image: always, missing, never, newer."),
        click.option("-q", "--quiet", "pull_quiet", is_flag=True, help="Print no pull progress."),
        AUTHFILE, CERT_DIR, TLS_VERIFY, CREDS,
        click.option("--platform", default="", help="OS/ARCH[/VARIANT] to pull from a manifest list."),
        click.option("--arch", default="", help="Architecture to pull from a manifest list."),
        click.option("--os", "os_", default="", help="OS to pull from a manifest list."),
        click.option("--variant", default="", help="Architecture variant to pull from a manifest list."),
    ]):
        function = option(function)
    return function


def image_for_create(session, opts: dict) -> str:
    """The image run/create use, pulled first as their flags say."""
    return ensure_image(session, opts["image"], opts["pull_policy"], quiet=opts["pull_quiet"],
                        tls_verify=opts["tls_verify"], authfile=opts["authfile"], cert_dir=opts["cert_dir"],
                        creds=opts["creds"], platform=opts["platform"],
                        arch=opts["arch"], os_=opts["os_"], variant=opts["variant"])


def ensure_image(session, reference: str, policy: str = "missing", *, quiet: bool = False, **flags) -> str:
    """What run and create do before creating: pull `reference` as `--pull`
    says (always, missing, never, newer); returns the image to create from
    (what the user typed when it is stored, else the name it was pulled as)."""
    from ..storage.pull_policy import stored_for_policy

    runtime = session.runtime
    if stored_for_policy(runtime, reference, policy, lambda: _pull_options(**flags)) is not None:
        return reference
    from ..storage.pull import Progress, pull as pull_image

    images = pull_image(runtime, reference, _pull_options(**flags), Progress() if quiet else TerminalProgress())
    return images[0].names[0] if images[0].names else images[0].id


@click.command(context_settings=CONTEXT)
@transfer_options
@click.option("-f", "--format", "format_", default="oci", show_default=True,
              type=click.Choice(["oci", "v2s2"]), help="Manifest type of the destination.")
@click.option("--compression-format", default="gzip", show_default=True,
              help="gzip (layers stored uncompressed are gzipped) or zstd (every layer as zstd; needs --format oci).")
@click.option("--digestfile", help="Write the manifest's digest to this file.")
@click.option("--remove-signatures", is_flag=True, help="Accepted: husk copies no signatures.")
@click.argument("image")
@click.argument("destination", required=False, default="")
@click.pass_obj
def push(session, image, destination, quiet, format_, compression_format, digestfile, remove_signatures, **flags):
    """Push IMAGE to a registry (docker://, the default) or to dir:, oci:, oci-archive:, docker-archive:."""
    from ..storage.pull import Progress
    from ..storage.push import push as push_image

    progress = Progress() if quiet else TerminalProgress()  # a list goes with its images, as manifest push
    digest = push_image(session.runtime, image, destination, options=_pull_options(**flags),
                        manifest_format=format_, compression=compression_format, progress=progress)
    if digestfile and digest:
        with open(digestfile, "w") as stream:
            stream.write(digest)


def _login_key(registry: str | None) -> str:
    """The auth.json key for REGISTRY (`host[:port][/repo]`, a scheme dropped)."""
    from ..define import InvalidArgument
    from ..storage.registry_config import normalize_key

    if not registry:
        from ..storage.registry_config import load_registries_conf

        search = load_registries_conf().search
        if not search:
            raise InvalidArgument("please provide a registry to log in to")
        registry = search[0]
    return normalize_key(registry)


@click.command(context_settings=CONTEXT)
@click.option("-u", "--username", default="", help="Username for the registry.")
@click.option("-p", "--password", default="", help="Password for the registry (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@connection_options
@click.option("--get-login", is_flag=True, help="Print the user logged in to REGISTRY.")
@click.option("-v", "--verbose", is_flag=True, help="Print the path of the auth file written.")
@click.argument("registry", required=False)
@click.pass_obj
def login(session, username, password, password_stdin, authfile, cert_dir, tls_verify, get_login, verbose,
          registry):
    """Log in to a registry: the credentials are checked, then written to auth.json."""
    from ..define import HuskError, InvalidArgument
    from ..storage.registry import RegistryClient, TLSOptions, certs_dir_for
    from ..storage.registry_config import credentials_for, store_credentials

    key = _login_key(registry)
    if get_login:
        found = credentials_for(key, authfile)
        if not found:
            raise HuskError(f"not logged into {key}")
        click.echo(found[0])
        return
    if password_stdin:
        if password:
            raise InvalidArgument("--password and --password-stdin cannot be given together")
        password = sys.stdin.readline().rstrip("\r\n")
    if not username:
        username = click.prompt("Username", err=True)
    if not password:
        import getpass

        password = getpass.getpass("Password: ")
    host = key.split("/", 1)[0]
    verify = _tls_verify(tls_verify)
    client = RegistryClient(host, credentials=(username, password),
                            tls=TLSOptions(verify=verify is not False, cert_dir=certs_dir_for(host, cert_dir)))
    client.check_login()
    path = store_credentials(key, username, password, authfile)
    if verbose:
        click.echo(f"Used: {path}")
    click.echo("Login Succeeded!")


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove the credentials of every registry.")
@AUTHFILE
@click.argument("registry", required=False)
@click.pass_obj
def logout(session, all_, authfile, registry):
    """Remove the credentials of REGISTRY (or every registry) from auth.json."""
    from ..define import HuskError
    from ..storage.registry_config import remove_credentials

    if all_:
        remove_credentials(None, authfile)
        click.echo("Removed login credentials for all registries")
        return
    key = _login_key(registry)
    if not remove_credentials(key, authfile):
        raise HuskError(f"not logged into {key}")
    click.echo(f"Removed login credentials for {key}")


@click.command(context_settings=CONTEXT)
@click.option("--limit", default=25, show_default=True, help="Show at most this many results.")
@click.option("--list-tags", is_flag=True, help="List the tags of the repository TERM names.")
@click.option("--format", "format_", default="", help="Go template for each result (.Name, .Description, .Tag).")
@click.option("--no-trunc", is_flag=True, help="Do not shorten descriptions.")
@connection_options
@click.argument("term")
@click.pass_obj
def search(session, limit, list_tags, format_, no_trunc, authfile, cert_dir, tls_verify, term):
    """Search registries' catalogs for repositories whose name holds TERM (`HOST/TERM`
    searches HOST only; a bare TERM the unqualified-search registries)."""
    from ..storage.search import search as search_registries

    rows = search_registries(term, _pull_options(tls_verify=tls_verify, cert_dir=cert_dir, authfile=authfile),
                             limit=limit, list_tags=list_tags)
    click.echo(search_text(rows, list_tags, format_), nl=False)


def search_text(rows: list[dict], list_tags: bool, format_: str) -> str:
    """`search`'s table (or template) of result rows (.Name, .Description, .Tag, ...)."""
    from ..formats.gofmt import GoStruct
    from ..formats.template import format_rows

    columns = ["Name", "Tag"] if list_tags else ["Name", "Description"]
    table = "table " + "\t".join("{{." + c + "}}" for c in columns)
    return format_rows(format_ or table, [GoStruct(row, "searchReporter") for row in rows])


def register(group: click.Group) -> None:
    image_group = group.commands["image"]
    for command in (pull, push):
        image_group.add_command(command)
        group.add_command(command)
    for command in (login, logout, search):
        group.add_command(command)
