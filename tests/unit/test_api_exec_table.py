"""The API's in-memory exec table stays bounded: what nobody will ask about goes."""

from husk.api.execs import KEEP_SECONDS, ExecCreateBody, ExecEntry, prune

NOW = 100_000.0
OLD = NOW - KEEP_SECONDS - 1


def _entry(name: str, created: float, started: bool = False, finished: float | None = None) -> ExecEntry:
    entry = ExecEntry(name, None, ExecCreateBody(cmd=["true"]))
    entry.created_at, entry.started = created, started
    if finished is not None:
        entry.finish(0)
        entry.finished_at = finished
    return entry


def test_old_unstarted_and_old_finished_entries_are_dropped():
    """A client creating execs and never starting them cannot grow the service
    for ever with creates alone (found reading the exec routes for the fuzz)."""
    entries = [_entry("never-started", OLD), _entry("running", OLD, started=True),
               _entry("finished-long-ago", OLD, started=True, finished=OLD), _entry("just-created", NOW),
               _entry("just-finished", OLD, started=True, finished=NOW)]
    table = {entry.id: entry for entry in entries}
    prune(table, NOW)
    assert sorted(table) == ["just-created", "just-finished", "running"]
