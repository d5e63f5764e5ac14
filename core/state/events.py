"""The events log: one JSON line per event in a file, like podman's "file" events logger.

Every container and image transition appends an `Event` to RR/events/events.log;
`husk events` and the API's events endpoint read it back, filter it, and follow
it.  There is no daemon, so the file is the only channel between processes:

* `EventLog.emit` appends a whole line with one O_APPEND write, which the kernel
  does not interleave with other appends, so concurrent writers never tear a line.
* Writers hold a shared flock on `path + ".lock"` while they write; rotation
  (rename to `path + ".1"`, dropping the older `.1`) takes it exclusively, so no
  write can land in a file that rotation is about to drop.
* Readers take no lock (see `RotatingFile`), and skip any line that is not a
  valid event instead of failing.

Imports stay tiny (os, time, fcntl): the CLI loads this module on every
lifecycle command.  An event is written with msgspec's encoder (loaded for the
records already), not the json module (~1 ms of each pause, unpause or stop
to import); the readers' json and RotatingFile are imported when read.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping

from ..define import InvalidArgument
from ..formats.timestamps import NS_PER_SECOND, format_go_time, parse_time, parse_time_ns

__all__ = [
    "ROTATION",
    "Event",
    "EventLog",
    "EventTail",
    "compile_filters",
    "format_line",
    "parse_filter_args",
    "parse_time",
    "parse_time_ns",
    "to_json_line",
    "to_template_data",
]

DEFAULT_MAX_SIZE = 1_000_000
#: the status of the system event that begins a rotated events file (podman's)
ROTATION = "log-rotation"

#: The attribute that carries a `died` event's exit code; podman keeps it apart from the labels.
EXIT_CODE_ATTRIBUTE = "containerExitCode"
#: The attribute of a `health_status` event (podman's Event.HealthStatus), also kept apart.
HEALTH_ATTRIBUTE = "health_status"

#: Filter keys `husk events --filter` accepts, mapped to the key they are grouped under.
FILTER_KEYS = {
    "container": "container",
    "event": "event",
    "status": "event",
    "image": "image",
    "label": "label",
    "type": "type",
}


class Event:
    """One thing that happened to a container, an image, or husk itself.

    `id` is the container or image id, `type` is "container", "image" or
    "system", `status` what happened ("create", "start", "died", "remove",
    ...).  `attributes` holds the labels, plus `containerExitCode` for "died".
    Time is kept as integer nanoseconds (`time_ns`); `time` is the float view.
    """

    __slots__ = ("id", "name", "image", "status", "type", "time_ns", "attributes")

    def __init__(
        self,
        status: str,
        *,
        type: str = "container",
        id: str = "",
        name: str = "",
        image: str = "",
        attributes: Mapping[str, str] | None = None,
        time_ns: int | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.id = id
        self.name = name
        self.image = image
        self.attributes = dict(attributes or {})
        self.time_ns = time.time_ns() if time_ns is None else time_ns

    @property
    def time(self) -> float:
        return self.time_ns / NS_PER_SECOND

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return all(getattr(self, slot) == getattr(other, slot) for slot in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{slot}={getattr(self, slot)!r}" for slot in self.__slots__)
        return f"Event({fields})"

    def to_json(self) -> str:
        """The stored form: one line of JSON, empty fields left out."""
        record: dict[str, object] = {"time_ns": self.time_ns, "type": self.type, "status": self.status}
        for key in ("id", "name", "image"):
            if value := getattr(self, key):
                record[key] = value
        if self.attributes:
            record["attributes"] = self.attributes
        import msgspec

        return msgspec.json.encode(record).decode()  # compact, UTF-8: json.dumps's separators=(",", ":"), ensure_ascii=False

    @classmethod
    def from_json(cls, line: bytes | str) -> "Event | None":
        """The event stored in `line`, or None if the line is not a valid event."""
        import json

        try:
            record = json.loads(line)
        except ValueError:  # includes UnicodeDecodeError
            return None
        if not isinstance(record, dict):
            return None
        time_ns = record.get("time_ns")
        strings = [record.get(key, "") for key in ("type", "status", "id", "name", "image")]
        attributes = record.get("attributes", {})
        if (
            type(time_ns) is not int
            or not all(isinstance(value, str) for value in strings)
            or not strings[0]
            or not strings[1]
            or not isinstance(attributes, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items())
        ):
            return None
        event_type, status, event_id, name, image = strings
        return cls(status, type=event_type, id=event_id, name=name, image=image, attributes=attributes, time_ns=time_ns)


class EventLog:
    """The events file at `path`, rotated to `path + ".1"` once it exceeds `max_size` bytes."""

    def __init__(self, path: str, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.path = path
        self.lock_path = path + ".lock"
        self.max_size = max_size

    def emit(self, event: Event) -> None:
        """Append `event`.  Raises OSError if the file cannot be written (disk full, ...)."""
        line = (event.to_json() + "\n").encode()
        lock_fd = self._open(self.lock_path, os.O_RDWR)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_SH)
            log_fd = self._open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                written = os.write(log_fd, line)
                while written < len(line):  # only after a signal or a full disk
                    written += os.write(log_fd, line[written:])
                size = os.fstat(log_fd).st_size
            finally:
                os.close(log_fd)
            if size > self.max_size:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                self._rotate_if_full()
        finally:
            os.close(lock_fd)

    def _open(self, path: str, flags: int) -> int:
        flags |= os.O_CREAT | os.O_CLOEXEC
        try:
            return os.open(path, flags, 0o600)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            return os.open(path, flags, 0o600)

    def _rotate_if_full(self) -> None:
        """With the lock held exclusively: rename the file if it is (still) too
        big, and begin the new one with podman's `system log-rotation` event
        (named by the file), which `events` shows as podman's does."""
        try:
            if os.stat(self.path).st_size <= self.max_size:
                return
            os.replace(self.path, self.path + ".1")
        except FileNotFoundError:
            return
        log_fd = self._open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(log_fd, (Event(ROTATION, type="system", name=self.path).to_json() + "\n").encode())
        finally:
            os.close(log_fd)

    def read(
        self,
        since: float | None = None,
        until: float | None = None,
        filters: Mapping[str, list[str]] | None = None,
    ) -> Iterator[Event]:
        """Stored events, oldest first, with since < time < until and matching `filters`.

        Filters are validated by this call, before anything is read (InvalidArgument).
        """
        return self._read(_selector(since, until, filters))

    def _read(self, matches: Callable[[Event], bool]) -> Iterator[Event]:
        from .rotatingfile import RotatingFile

        with RotatingFile(self.path) as log_file:
            for line in log_file.forward():
                event = Event.from_json(line)
                if event is not None and matches(event):
                    yield event

    def follow(
        self,
        since: float | None = None,
        until: float | None = None,
        filters: Mapping[str, list[str]] | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
        poll_interval: float = 0.1,
    ) -> Iterator[Event]:
        """Events as they are appended, polling every `poll_interval` seconds.

        With `since`, stored events from then on come first; without it only
        new events are yielded (podman's streaming mode).  Stops once the clock
        passes `until`, or when `should_stop()` returns true.  Filters are
        validated by this call (InvalidArgument).
        """
        tail = self.tail(since, until, filters)
        return self._follow(tail, should_stop, poll_interval)

    def tail(
        self,
        since: float | None = None,
        until: float | None = None,
        filters: Mapping[str, list[str]] | None = None,
    ) -> "EventTail":
        """An `EventTail` of this log: what `follow` polls, for a caller that
        waits its own way (the API service waits on inotify).  Filters are
        validated by this call (InvalidArgument)."""
        return EventTail(self.path, _selector(since, until, filters), since is not None, until)

    @staticmethod
    def _follow(tail: "EventTail", should_stop: Callable[[], bool] | None, poll_interval: float) -> Iterator[Event]:
        with tail:
            yield from tail.backlog()
            while not tail.ended:
                events = tail.new()
                yield from events
                if events:
                    continue
                if should_stop is not None and should_stop():
                    yield from tail.new()
                    return
                time.sleep(poll_interval)


class EventTail:
    """The events log from a point on, read when the caller asks: `backlog()`
    once (the stored events from `since`, if it was given), then `new()`
    whenever the log may have grown, until `ended` (the clock passed `until`,
    or an event at or after it was read).  The snapshot is taken at creation,
    so an event appended after it is in `new()`, never lost or doubled."""

    def __init__(self, path: str, matches: Callable[[Event], bool], from_history: bool,
                 until: float | None) -> None:
        from .rotatingfile import RotatingFile

        self.file = RotatingFile(path)
        self.matches = matches
        self.from_history = from_history
        self.until_ns = None if until is None else int(until * NS_PER_SECOND)
        self._past_until = False
        if not from_history:
            self.file.skip_to_end()

    def backlog(self) -> Iterator[Event]:
        if self.from_history:
            for line in self.file.forward():
                event = Event.from_json(line)
                if event is not None and self.matches(event):
                    yield event

    def new(self) -> list[Event]:
        """The matching events appended since the last call; [] only once caught up."""
        events: list[Event] = []
        while not events and not self._past_until and (lines := self.file.read_new()):
            for line in lines:
                event = Event.from_json(line)
                if event is None:
                    continue
                if self.until_ns is not None and event.time_ns >= self.until_ns:
                    self._past_until = True
                    break
                if self.matches(event):
                    events.append(event)
        return events

    @property
    def ended(self) -> bool:
        return self._past_until or (self.until_ns is not None and time.time_ns() > self.until_ns)

    def seconds_left(self) -> float | None:
        """Until `until` (None: no end)."""
        return None if self.until_ns is None else max(0.0, (self.until_ns - time.time_ns()) / NS_PER_SECOND)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "EventTail":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def parse_filter_args(args: list[str]) -> dict[str, list[str]]:
    """`["event=start", "event=stop", "label=a"]` -> `{"event": ["start", "stop"], "label": ["a"]}`."""
    filters: dict[str, list[str]] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise InvalidArgument(f'invalid filter "{arg}": want key=value')
        filters.setdefault(key, []).append(value)
    return filters


def _matches_one(key: str, value: str, event: Event) -> bool:
    if key == "type":
        return event.type == value
    if key == "event":
        return event.status == value
    if key == "container":
        return event.type == "container" and (event.name == value or event.id.startswith(value))
    if key == "image":
        return event.type == "image" and (event.name == value or event.id.startswith(value))
    # label: "key" matches any value, "key=value" that value only
    label, sep, wanted = value.partition("=")
    return label in event.attributes and (not sep or event.attributes[label] == wanted)


def compile_filters(filters: Mapping[str, list[str]] | None) -> Callable[[Event], bool]:
    """A predicate for podman's filter semantics: values of one key OR'ed, keys AND'ed.

    Keys are case-insensitive; "status" is another name for "event" (so the two
    are OR'ed together).  An unknown key is InvalidArgument.
    """
    grouped: dict[str, list[str]] = {}
    for key, values in (filters or {}).items():
        canonical = FILTER_KEYS.get(key.lower())
        if canonical is None:
            raise InvalidArgument(f'"{key}" is an invalid filter; valid filters: {", ".join(sorted(FILTER_KEYS))}')
        grouped.setdefault(canonical, []).extend(values)
    groups = [(key, values) for key, values in grouped.items() if values]

    def matches(event: Event) -> bool:
        return all(any(_matches_one(key, value, event) for value in values) for key, values in groups)

    return matches


def _selector(
    since: float | None, until: float | None, filters: Mapping[str, list[str]] | None
) -> Callable[[Event], bool]:
    matches_filters = compile_filters(filters)
    since_ns = None if since is None else int(since * NS_PER_SECOND)
    until_ns = None if until is None else int(until * NS_PER_SECOND)

    def matches(event: Event) -> bool:
        if since_ns is not None and event.time_ns <= since_ns:
            return False
        if until_ns is not None and event.time_ns >= until_ns:
            return False
        return matches_filters(event)

    return matches


def _labels(event: Event) -> dict[str, str]:
    """The attributes podman shows as such: without the exit code, and without
    `image` / `name` copies of the event's own fields (the Docker API wants those
    among its attributes; the human line already names them)."""
    own = {"image": event.image, "name": event.name}
    return {
        k: v for k, v in event.attributes.items()
        if k not in (EXIT_CODE_ATTRIBUTE, HEALTH_ATTRIBUTE) and own.get(k, object()) != v
    }


def format_line(event: Event) -> str:
    """podman's human-readable line (`Event.ToHumanReadable` with --no-trunc, its default).

    Attributes are printed sorted (Go prints them in map order, i.e. random);
    the exit code of a "died" event is not printed, as in podman.
    """
    when = format_go_time(event.time_ns)
    if event.type == "container":
        details = [f"image={event.image}", f"name={event.name}"]
        if HEALTH_ATTRIBUTE in event.attributes:
            details.append(f"{HEALTH_ATTRIBUTE}={event.attributes[HEALTH_ATTRIBUTE]}")
        details += [f"{k}={v}" for k, v in sorted(_labels(event).items())]
        return f"{when} {event.type} {event.status} {event.id} ({', '.join(details)})"
    if event.type == "image":
        return f"{when} {event.type} {event.status} {event.id} {event.name}"
    if event.name:
        return f"{when} {event.type} {event.status} {event.name}"
    return f"{when} {event.type} {event.status}"


def to_template_data(event: Event) -> dict[str, object]:
    """The fields `--format '{{.Name}}'` sees, named as podman's.

    As in podman, Time is whole Unix seconds and TimeNano the nanoseconds;
    ContainerExitCode is present for events that carry one.
    """
    data: dict[str, object] = {
        "ID": event.id,
        "Image": event.image,
        "Name": event.name,
        "Status": event.status,
        "Time": event.time_ns // NS_PER_SECOND,
        "TimeNano": event.time_ns,
        "Type": event.type,
        "Attributes": _labels(event),
    }
    exit_code = event.attributes.get(EXIT_CODE_ATTRIBUTE)
    if exit_code is not None and exit_code.lstrip("-").isdigit():
        data["ContainerExitCode"] = int(exit_code)
    if HEALTH_ATTRIBUTE in event.attributes:
        data["HealthStatus"] = event.attributes[HEALTH_ATTRIBUTE]
    return data


def to_json_line(event: Event) -> str:
    """`--format json`: podman's JSON keys, empty fields left out."""
    import json

    data = to_template_data(event)
    record: dict[str, object] = {}
    if "ContainerExitCode" in data:
        record["ContainerExitCode"] = data["ContainerExitCode"]
    for key in ("ID", "Image", "Name"):
        if data[key]:
            record[key] = data[key]
    record["Status"] = data["Status"]
    record["time"] = data["Time"]
    record["timeNano"] = data["TimeNano"]
    record["Type"] = data["Type"]
    if "HealthStatus" in data:
        record["health_status"] = data["HealthStatus"]
    if data["Attributes"]:
        record["Attributes"] = data["Attributes"]
    return json.dumps(record, separators=(",", ":"))
