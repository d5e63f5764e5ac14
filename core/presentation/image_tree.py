"""`image tree`'s text (the CLI's verb and libpod's /images/{name}/tree)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..state.records import ImageRecord


def tree_text(runtime: "Runtime", image: "ImageRecord", what_requires: bool = False) -> str:
    """podman 4.3's `image tree`: the image's id, tags and size, then its layers
    bottom first, each marked with the images it is the top layer of.  With
    `what_requires`, its top layer and, as a tree, the layers of the images
    built on it (see :func:`_children_tree`)."""
    from ..formats.units import human_size
    from ..storage.images import layer_sizes

    images = sorted(runtime.store.images(), key=lambda other: other.created)
    sizes: dict[str, int] = {}
    for other in images:
        sizes.update(zip(other.layers, layer_sizes(runtime, other)))

    def label(layer: str) -> str:
        line = f"ID: {layer.removeprefix('sha256:')[:12]} Size: {human_size(sizes.get(layer, 0)):>7}"
        tops = [name for other in images if other.layers and other.layers[-1] == layer for name in other.names]
        return line + (f" Top Layer of: [{' '.join(tops)}]" if tops else "")

    lines = [f"Image ID: {image.id[:12]}", f"Tags:     [{' '.join(image.names)}]",
             f"Size:     {human_size(image.size)}", "Image Layers"]
    if what_requires and image.layers:
        lines += _children_tree(image, images, label)
    else:
        lines += [("└── " if number == len(image.layers) - 1 else "├── ") + label(layer)
                  for number, layer in enumerate(image.layers)]
    return "\n".join(lines) + "\n"


def _children_tree(image: "ImageRecord", images: list, label) -> list[str]:
    """`--whatrequires` as podman 4.3 draws it: the image's top layer, and under it
    the layers stacked on it by other images (oldest image first), each with its
    own children under it.  A base layer's children (the image has one layer)
    are drawn beside it rather than under it, as podman does."""
    children: dict[tuple, list[tuple]] = {}
    for other in images:  # a layer is its chain: the same diff on another parent is another node
        for depth in range(1, len(other.layers)):
            parent, node = tuple(other.layers[:depth]), tuple(other.layers[:depth + 1])
            siblings = children.setdefault(parent, [])
            if node not in siblings:
                siblings.append(node)
    root = tuple(image.layers)

    def draw(node: tuple, prefix: str, last: bool) -> list[str]:
        lines = [prefix + ("└── " if last else "├── ") + label(node[-1])]
        below = children.get(node, [])
        inner = prefix + ("    " if last else "│   ")
        for number, child in enumerate(below):
            lines += draw(child, inner, number == len(below) - 1)
        return lines

    below = children.get(root, [])
    if len(root) > 1 or not below:
        return draw(root, "", True)
    lines = [f"├── {label(root[-1])}"]
    for number, child in enumerate(below):
        lines += draw(child, "", number == len(below) - 1)
    return lines
