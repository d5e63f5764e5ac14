"""husk.volumes: named and anonymous volumes, and the drivers that keep them.

A volume is a record in the state store (:class:`husk.state.records.VolumeRecord`)
and a place on the host its driver provides.  The built-in driver, ``local``,
keeps a directory under the storage root or mounts what ``--opt
type=,device=,o=`` say; a plugin adds another driver through the
``husk_register_volume_drivers`` hook, the way ``local`` itself is registered.
:mod:`husk.volumes.manager` is what the engine calls: create, remove, prune,
and the use count (which containers hold a volume mounted), kept in the
record as a set of container ids so that a crash never leaves a count off by
one, and repaired under the volumes lock whenever it is changed.
"""
