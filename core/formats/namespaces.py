"""podman's namespace settings in their two spellings, one translation.

The CLI's flags (`--pid`, `--ipc`, `--uts`, `--cgroupns`, `--userns`, `--network`) and Docker's
HostConfig write a setting as one string: `host`, `private`, `container:NAME`, `ns:PATH`,
`auto:size=N`, ...; libpod's SpecGenerator and PodSpecGenerator write it as {nsmode, value},
where `ns:` is the mode `path`.  The remote verbs send the one, the libpod API reads it back to
the other (and checks it as the flags are checked).
"""

from __future__ import annotations

#: the modes spelled differently: the flag's word -> libpod's nsmode
_SPEC_MODES = {"ns": "path"}
_FLAG_MODES = {mode: word for word, mode in _SPEC_MODES.items()}


def to_spec(setting: str) -> dict[str, str]:
    """A flag's value as libpod's {nsmode, value} (`ns:/proc/1/ns/pid` -> path, /proc/1/ns/pid)."""
    mode, _, value = setting.partition(":")
    return {"nsmode": _SPEC_MODES.get(mode, mode), "value": value}


def to_flag(nsmode: str, value: str = "") -> str:
    """libpod's {nsmode, value} as the flag's value (path, /x -> `ns:/x`; "" stays "": not set)."""
    mode = _FLAG_MODES.get(nsmode, nsmode)
    return f"{mode}:{value}" if value else mode
