"""Defaults from TOML config files, like podman's containers.conf.

Read in order, later files overriding earlier keys: /etc/husk/husk.conf (the
system), $XDG_CONFIG_HOME/husk/husk.conf (the user; ~/.config by default), and
the file named by $HUSK_CONFIG.  Command-line flags override all of them.
Example::

    [engine]
    runtime = "runc"            # default --runtime
    root = "/var/lib/husk"      # --root
    runroot = "/run/husk"       # --runroot
    plugins = ["mysite.husk"]   # extra plugin modules to load
    disabled_plugins = ["crun"] # entry points not to load
    events_logfile_max_size = 1000000

    [containers]
    stop_timeout = 10
    log_size_max = 0            # bytes; 0 = unlimited
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .define import DEFAULT_STOP_TIMEOUT, InvalidArgument


@dataclass
class Config:
    runtime: str = "crun"
    root: str = "/var/lib/husk"
    runroot: str = "/run/husk"
    plugins: list[str] = field(default_factory=list)
    disabled_plugins: list[str] = field(default_factory=list)
    events_logfile_max_size: int = 1_000_000
    stop_timeout: int = DEFAULT_STOP_TIMEOUT
    log_size_max: int = 0


_SECTIONS = {
    "engine": ("runtime", "root", "runroot", "plugins", "disabled_plugins", "events_logfile_max_size"),
    "containers": ("stop_timeout", "log_size_max"),
}


def config_files() -> list[str]:
    user_dir = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    files = ["/etc/husk/husk.conf", os.path.join(user_dir, "husk", "husk.conf")]
    if os.environ.get("HUSK_CONFIG"):
        files.append(os.environ["HUSK_CONFIG"])
    return files


def load(files: list[str] | None = None) -> Config:
    """The merged configuration; a malformed file is one clear error, not a traceback."""
    config = Config()
    for path in config_files() if files is None else files:
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InvalidArgument(f"reading config file {path}: {exc.strerror}") from None
        _apply(config, path, raw)
    return config


def _apply(config: Config, path: str, raw: bytes) -> None:
    import tomllib  # only paid when a config file exists

    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"config file {path}: {exc}") from None
    for section, keys in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise InvalidArgument(f"config file {path}: [{section}] must be a table")
        for key, value in table.items():
            if key not in keys:
                raise InvalidArgument(f"config file {path}: unknown key {section}.{key}")
            expected = type(getattr(config, key))
            if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
                raise InvalidArgument(f"config file {path}: {section}.{key} must be a {expected.__name__}")
            setattr(config, key, value)
