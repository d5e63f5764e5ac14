"""husk.cli.cobra: argv read as cobra (podman's parser) reads it, checked on husk's real command tree."""

from __future__ import annotations

import pytest

from husk.cli import _register, cli
from husk.cli.cobra import BadFlagValue, normalize

_register()


@pytest.mark.parametrize("line, expected", [
    # global flags anywhere before the container's command move in front of the verb
    ("ps --root /x -a", "--root /x ps --all"),
    ("container ps --runroot /r --all", "--runroot /r container ps --all"),
    ("container --root /z ps", "--root /z container ps"),
    ("run --runtime runc --rm busybox ls --root y", "--runtime runc run --rm busybox ls --root y"),
    ("create --noout --log-level=debug busybox", "--noout --log-level debug create busybox"),
    # booleans with values, as strconv.ParseBool spells them
    ("ps -a=false", "ps"),
    ("ps --all=true", "ps --all"),
    ("run --rm=0 -i=1 busybox", "run --interactive busybox"),
    ("run -dit=false busybox", "run --detach --interactive busybox"),
    ("events --stream=false", "events --stream false"),
    ("run --sig-proxy=F busybox", "run --sig-proxy F busybox"),
    # values glued with = or to the letter, clusters; short names become long ones (click
    # reads a short one only after failing it as a long one, at the cost of a NoSuchOption)
    ("create -e=A=b -eC=d busybox", "create --env A=b --env C=d busybox"),
    ("create -e= busybox", "create --env = busybox"),  # pflag: a bare `-e=` is the value "="
    ("create -e== busybox", "create --env = busybox"),
    ("stop -t5 x", "stop --time 5 x"),
    ("run -it busybox sh", "run --interactive --tty busybox sh"),
    # -- ends the flags; run's flags end at the image
    ("ps -- --root", "ps -- --root"),
    ("run busybox -a=false --root x", "run busybox -a=false --root x"),
    ("exec -it c sh -c 'x'", "exec --interactive --tty c sh -c 'x'"),
])
def test_normalize(line, expected):
    assert " ".join(normalize(cli, line.split())) == expected


@pytest.mark.parametrize("line, message", [
    ("ps --all=maybe", 'invalid argument "maybe" for "-a, --all" flag: strconv.ParseBool: parsing "maybe": '
                       "invalid syntax\nSee 'husk ps --help'"),
    ("stop --time abc x", 'invalid argument "abc" for "-t, --time" flag: strconv.ParseInt: parsing "abc": '
                          "invalid syntax\nSee 'husk stop --help'"),
    ("run -i=yes busybox", 'invalid argument "yes" for "-i, --interactive" flag'),
    ("events --stream=nope", 'invalid argument "nope" for "--stream" flag'),
])
def test_bad_values_get_cobras_message(line, message):
    with pytest.raises(BadFlagValue) as info:
        normalize(cli, line.split())
    assert message in str(info.value)


def test_unknown_flags_are_left_for_click():
    assert normalize(cli, ["ps", "--bogus"]) == ["ps", "--bogus"]
    assert normalize(cli, ["nosuchverb", "--root", "x"]) == ["nosuchverb", "--root", "x"]
