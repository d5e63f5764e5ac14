"""The base class of volume drivers, the seam through which a plugin keeps volumes.

A driver is registered by name through the ``husk_register_volume_drivers``
hook (``local`` is registered the same way, by :mod:`husk.volumes.local`).
husk constructs it with the directory it may keep its own files in (under the
storage root, 0700) and calls it under husk's volumes lock, so a driver needs
no locking of its own.  The record it is given (``volume``) is a
:class:`husk.state.records.VolumeRecord`: ``.name``, ``.options`` (the
``--opt`` pairs), ``.labels``, ``.uid``/``.gid`` (-1: not set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..state.records import VolumeRecord


class VolumeDriver:
    """Override what your driver does differently; every method is called by husk."""

    #: the name users pass to `volume create --driver`
    name = ""

    def __init__(self, directory: str) -> None:
        #: the driver's own directory under the storage root (created by husk, 0700)
        self.directory = directory

    def create(self, volume: "VolumeRecord") -> None:
        """Check ``volume.options`` (raise InvalidArgument for one you do not
        know) and make the volume's storage.  Called once, before the record is
        saved; raising leaves no record."""

    def remove(self, volume: "VolumeRecord") -> None:
        """Delete the volume's storage and content (it is unmounted)."""

    def path(self, volume: "VolumeRecord") -> str:
        """The host directory containers bind-mount while the volume is mounted."""
        raise NotImplementedError

    def mount(self, volume: "VolumeRecord") -> None:
        """Make :meth:`path` hold the content; called when the first container
        needs the volume (and by `volume mount`)."""

    def unmount(self, volume: "VolumeRecord") -> None:
        """Undo :meth:`mount`; called after the last user is gone."""
