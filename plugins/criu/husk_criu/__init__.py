"""husk-criu: checkpoint and restore of running containers with CRIU.

The OCI runtime does the CRIU work (`runc checkpoint` / `runc restore`); this
plugin chooses the paths, runs the restore under a new monitor (which adopts
the restored process as it adopts a started one), and writes and reads the
portable checkpoint archive.  The host needs a `criu` that passes `criu check`:
contrib/install-criu.sh provides one.
"""

from husk.hooks import hookimpl


@hookimpl
def husk_checkpoint(container, options):
    from .checkpoint import checkpoint

    checkpoint(container, options)
    return True


@hookimpl
def husk_restore(container, options):
    if container is None:  # --import: a new container from an archive (options["runtime"] says where)
        from .archive import import_archive

        return import_archive(options["runtime"], options)
    from .checkpoint import restore

    restore(container, options)
    return True
