"""State: the LMDB store, its typed records, per-container locks, the events
log and the paths of every file husk keeps.  Imports only husk.define.
"""
