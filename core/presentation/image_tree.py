"""`image tree`'s text (the CLI's verb and libpod's /images/{name}/tree)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..state.records import ImageRecord


def tree_text(runtime: "Runtime", image: "ImageRecord", what_requires: bool = False) -> str:
    """podman 4.3's `image tree`: the image's id, tags and size, then its layers
    bottom first, each marked with the images it is the top layer of.  With
    `what_requires`, its top layer and the layers of the images built on it."""
    from ..formats.units import human_size
    from ..storage.images import layer_sizes

    images = runtime.store.images()
    sizes: dict[str, int] = {}
    for other in images:
        sizes.update(zip(other.layers, layer_sizes(runtime, other)))
    if what_requires:
        depth = len(image.layers)
        layers = image.layers[-1:] + list(dict.fromkeys(
            layer for other in sorted(images, key=lambda o: len(o.layers))
            if other.layers[:depth] == image.layers for layer in other.layers[depth:]))
    else:
        layers = image.layers
    lines = [f"Image ID: {image.id[:12]}", f"Tags:     [{' '.join(image.names)}]",
             f"Size:     {human_size(image.size)}", "Image Layers"]
    for number, layer in enumerate(layers):
        branch = "└── " if number == len(layers) - 1 else "├── "
        line = f"{branch}ID: {layer.removeprefix('sha256:')[:12]} Size: {human_size(sizes.get(layer, 0)):>7}"
        tops = [name for other in images if other.layers and other.layers[-1] == layer for name in other.names]
        if tops:
            line += f" Top Layer of: [{' '.join(tops)}]"
        lines.append(line)
    return "\n".join(lines) + "\n"
