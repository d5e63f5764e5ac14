"""husk: a daemonless container engine.

    import husk
    runtime = husk.Runtime()
    ctr = runtime.create_container("busybox", ["echo", "hello"])
    ctr.start()
    print(ctr.wait())

Attributes are imported on first use, so `import husk` costs almost nothing.
"""

__version__ = "0.1.0"

_LAZY = {"Runtime": "husk.engine.runtime", "Container": "husk.engine.container", "define": "husk.define"}


def __getattr__(name):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'husk' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    return module if module_name.endswith(name) else getattr(module, name)


__all__ = ["Runtime", "Container", "define", "__version__"]
