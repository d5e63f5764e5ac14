"""Issue 16's volume and secret flags that no other test covers: a volume's
mount flags (podman's nosuid,nodev default; suid, exec, dev, z and Z),
`--mount type=volume,volume-opt=...`, `volume rm -t`, `volume prune --filter`,
`secret create --driver`, and a secret's value kept out of husk's debug log."""

import json

from husk.testing import IMAGE

FLAGS = {"nosuid", "nodev", "noexec"}


def _flags(husk, volume_option: str) -> set[str]:
    ran = husk("run", "--rm", "--network", "none", "-v", f"flagged:/d{volume_option}", IMAGE, "sh", "-c",
               "grep ' /d ' /proc/mounts", check=True)
    assert len(ran.stdout.split()) == 6, (ran.stdout, ran.stderr)
    return set(ran.stdout.split()[3].split(",")) & FLAGS


def test_volume_mount_flags_are_podmans(husk_rt):
    """What podman 4.3 mounts for the same -v options (seen on this host)."""
    husk = husk_rt
    assert _flags(husk, "") == {"nosuid", "nodev"}
    assert _flags(husk, ":z") == {"nosuid", "nodev"}  # accepted; no SELinux to label for
    assert _flags(husk, ":suid,exec,dev") == set()
    assert _flags(husk, ":Z,nosuid,noexec,nodev") == FLAGS


def test_mount_volume_opt_makes_the_volume_with_those_options(husk_rt):
    husk = husk_rt
    out = husk("run", "--rm", "--network", "none", "--mount",
               "type=volume,src=made,dst=/d,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m",
               IMAGE, "sh", "-c", "grep ' /d ' /proc/mounts", check=True).stdout.split()
    assert out[2] == "tmpfs" and "size=2048k" in out[3].split(","), out
    options = json.loads(husk("volume", "inspect", "made", check=True).stdout)[0]["Options"]
    assert options == {"type": "tmpfs", "device": "tmpfs", "o": "size=2m"}
    # an existing volume keeps its own options
    husk("run", "--rm", "--network", "none", "--mount", "type=volume,src=made,dst=/d,volume-opt=o=size=4m", IMAGE,
         "true", check=True)
    assert json.loads(husk("volume", "inspect", "made", check=True).stdout)[0]["Options"]["o"] == "size=2m"
    bad = husk("run", "--rm", "--mount", "type=volume,dst=/x,volume-opt=bad", IMAGE, "true")
    assert bad.returncode == 125 and bad.stderr.count("\n") == 1 and "KEY=VALUE" in bad.stderr, bad.stderr


def test_volume_rm_time_and_prune_filter(husk):
    husk("volume", "create", "used", check=True)
    husk("run", "-d", "--name", "user", "--network", "none", "-v", "used:/d", IMAGE, "sleep", "1000", check=True)
    assert husk("volume", "rm", "used").returncode == 2
    assert husk("volume", "rm", "-f", "-t", "0", "used", check=True).stdout == "used\n"
    assert husk("ps", "-aq", check=True).stdout == ""  # its container was stopped (at once) and removed
    husk("volume", "create", "--label", "keep=no", "labelled", check=True)
    husk("volume", "create", "plain", check=True)
    assert husk("volume", "prune", "-f", "--filter", "label=keep=no", check=True).stdout == "labelled\n"
    bogus = husk("volume", "prune", "-f", "--filter", "bogus=1")
    assert bogus.returncode == 125 and bogus.stderr == "Error: invalid filter 'bogus'\n"
    assert husk("volume", "ls", "-q", check=True).stdout == "plain\n"


def test_secret_driver_and_value_out_of_the_debug_log(husk):
    value = "debug-log-secret-5d2e"
    created = husk("--log-level", "debug", "secret", "create", "-d", "file", "s", "-", input=value)
    assert created.returncode == 0 and value not in created.stderr, created.stderr
    bogus = husk("secret", "create", "--driver", "bogus", "b", "-", input=value)
    assert (bogus.returncode, bogus.stderr) == (125, "Error: secret driver 'bogus' is not supported: use file\n")
    ran = husk("--log-level", "debug", "run", "--rm", "--network", "none", "--secret", "s", "--secret",
               "s,type=env,target=S", IMAGE, "sh", "-c", 'cat /run/secrets/s; echo "$S"')
    assert ran.stdout == f"{value}{value}\n", ran.stderr
    assert value not in ran.stderr


def test_a_mounted_volume_stays_until_its_last_user_stops(husk_rt):
    """A `type=tmpfs` volume is mounted by its first container and unmounted
    after its last one, not before."""
    husk = husk_rt
    husk("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "shared", check=True)
    path = json.loads(husk("volume", "inspect", "shared", check=True).stdout)[0]["Mountpoint"]

    def mounted() -> bool:
        with open("/proc/self/mountinfo") as mountinfo:
            return any(line.split()[4] == path for line in mountinfo)

    for name in ("first", "second"):
        husk("run", "-d", "--name", name, "--network", "none", "-v", "shared:/s", IMAGE, "sleep", "1000", check=True)
    husk("exec", "first", "sh", "-c", "echo both > /s/f", check=True)
    assert husk("exec", "second", "cat", "/s/f", check=True).stdout == "both\n"
    husk("stop", "-t", "0", "first", check=True)
    assert mounted() and husk("exec", "second", "cat", "/s/f", check=True).stdout == "both\n"
    husk("stop", "-t", "0", "second", check=True)
    assert not mounted()
    husk("rm", "first", "second", check=True)


def test_secret_uid_gid_and_mode(husk_rt):
    husk = husk_rt
    husk("secret", "create", "owned", "-", input="v", check=True)
    ran = husk("run", "--rm", "--network", "none", "--secret", "owned,uid=1,gid=2,mode=0440", IMAGE,
               "stat", "-c", "%u %g %a", "/run/secrets/owned", check=True)
    assert ran.stdout == "1 2 440\n", ran.stderr
