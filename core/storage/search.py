"""`husk search`: repositories from registries' catalogs (`/v2/_catalog`), as
podman searches registries that are not Docker Hub; `--list-tags` lists one
repository's tags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..define import HuskError, InvalidArgument

if TYPE_CHECKING:
    from .pull import PullOptions


def search(term: str, options: "PullOptions", *, limit: int = 25, list_tags: bool = False) -> list[dict]:
    """Rows of {"Index", "Name", "Description"} (or {"Name", "Tag"} with `list_tags`):
    `HOST/TERM` searches HOST; a bare TERM each unqualified-search registry."""
    from .pull import client_for
    from .registry import DOCKER_HUB, is_qualified, parse_remote
    from .registry_config import load_registries_conf

    if limit < 1:
        raise InvalidArgument(f"invalid --limit {limit}: must be 1 or more")
    conf = load_registries_conf()
    if list_tags:
        if not is_qualified(term):
            raise InvalidArgument(f"--list-tags needs a fully qualified repository (HOST/NAME), not {term!r}")
        ref = parse_remote(term)
        client = client_for(ref.registry, conf, options, ref.name)
        return [{"Name": ref.name, "Tag": tag} for tag in client.tags(ref.repository)[:limit]]
    if is_qualified(term):
        registry, _, text = term.partition("/")
        registries = [registry]
    else:
        registries, text = conf.search, term
        if not registries:
            raise InvalidArgument(f'no unqualified-search registries are defined in "{conf.path}": '
                                  "search HOST/TERM")
    rows: list[dict] = []
    for registry in registries:
        if registry == DOCKER_HUB:
            raise HuskError("searching docker.io needs its v1 search API, which husk does not speak")
        client = client_for(registry, conf, options, registry)
        try:
            rows += [{"Index": registry, "Name": f"{registry}/{repository}", "Description": ""}
                     for repository in client.catalog() if text.lower() in repository.lower()]
        finally:
            client.close()
    return rows[:limit]
