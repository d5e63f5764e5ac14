"""`inspect` of volumes, networks and pods (podman 4.3's --type volume|network|pod,
and --type all looking in its order: container, image, volume, network, pod), and
their missing names in podman's words."""

import json
import re

from husk.testing import IMAGE

KINDS = '"image", "container", "pod", "network", "volume", or "all"'


def test_inspect_finds_volumes_networks_and_pods(husk):
    volume, pod, network = "ikvol", "ikpod", husk.default_network
    husk("volume", "create", volume, check=True)
    husk("pod", "create", "--infra=false", "--name", pod, check=True)
    try:
        shown = husk("inspect", "--format", "{{.Name}}", volume, pod, network, "nope")
        assert (shown.returncode, shown.stdout) == (125, f"{volume}\n{pod}\n{network}\n")
        assert shown.stderr == 'Error: inspecting object: no such object: "nope"\n'
        for type_, name, key in (("volume", volume, "Name"), ("pod", pod, "Name"), ("network", network, "name")):
            [document] = json.loads(husk("inspect", "--type", type_, name, check=True).stdout)
            assert document[key] == name
        missing = husk("inspect", "--type", "pod", volume, "nope")  # the kind's own words; the first last
        assert (missing.returncode, missing.stdout) == (125, "[]\n")
        assert missing.stderr.splitlines() == ["error inspecting object: no such pod nope",
                                               f"Error: inspecting object: no such pod {volume}"]
        missing = husk("inspect", "--type", "volume", "nope")
        assert missing.stderr == "Error: inspecting object: no such volume nope\n"
        missing = husk("inspect", "--type", "network", "--format", "{{.Name}}", "nope", network)
        assert (missing.returncode, missing.stdout) == (125, f"{network}\n")
        assert missing.stderr == ("Error: inspecting object: network nope: unable to find network with name or "
                                  "ID nope: network not found\n")
        bad = husk("inspect", "--type", "secret", "x")
        assert (bad.returncode, bad.stderr) == (125, f'Error: invalid type "secret": must be {KINDS}\n')
        upper = husk("inspect", "Nope")  # no kind takes it (an image's bad reference too)
        assert upper.stderr == 'Error: inspecting object: no such object: "Nope"\n'
    finally:
        husk("pod", "rm", pod)
        husk("volume", "rm", volume)


def test_no_names_in_podmans_words(husk):
    for verb in (["inspect"], ["container", "inspect"], ["image", "inspect"], ["pod", "inspect"]):
        result = husk(*verb)
        assert (result.returncode, result.stdout, result.stderr) == (125, "", "Error: no names or ids specified\n")


def test_the_array_is_indented_by_five_as_podmans(husk):
    husk("create", "--name", "ikfive", IMAGE, "true", check=True)
    try:
        for verb in (["inspect", "ikfive"], ["container", "inspect", "ikfive"], ["image", "inspect", IMAGE]):
            assert husk(*verb, check=True).stdout.startswith('[\n     {\n          "'), verb
    finally:
        husk("rm", "ikfive")


def _go_string(rfc3339: str) -> str:
    """What podman 4.3.1 prints in a template for a time whose JSON is `rfc3339` (UTC)."""
    assert rfc3339.endswith("Z"), rfc3339
    return rfc3339[:-1].replace("T", " ") + " +0000 UTC"


def test_time_fields_print_as_go_prints_times_in_templates_and_rfc3339_in_json(husk):
    """podman's templates print a time.Time through String() (`2026-12-05 09:57:09.040398 +0000 UTC`),
    its JSON as RFC 3339: container, image, volume, network, pod and secret documents alike."""
    name, volume, pod, secret = "iktimes", "iktimesvol", "iktimespod", "iktimessec"
    husk("create", "--name", name, IMAGE, "true", check=True)
    husk("volume", "create", volume, check=True)
    husk("pod", "create", "--infra=false", "--name", pod, check=True)
    husk("secret", "create", secret, "-", input="x", check=True)
    try:
        cases = [(("inspect", name), "{{.Created}} {{.State.StartedAt}} {{.State.FinishedAt}}",
                  lambda d: [d["Created"], d["State"]["StartedAt"], d["State"]["FinishedAt"]]),
                 (("image", "inspect", IMAGE), "{{.Created}}", lambda d: [d["Created"]]),
                 (("volume", "inspect", volume), "{{.CreatedAt}}", lambda d: [d["CreatedAt"]]),
                 (("network", "inspect", husk.default_network), "{{.Created}}", lambda d: [d["created"]]),
                 (("pod", "inspect", pod), "{{.Created}}", lambda d: [d["Created"]]),
                 (("secret", "inspect", secret), "{{.CreatedAt}}", lambda d: [d["CreatedAt"]])]
        for command, fmt, times in cases:
            document = json.loads(husk(*command, check=True).stdout)
            json_times = times(document[0] if isinstance(document, list) else document)
            assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z", t) for t in json_times), json_times
            shown = husk(*command, "--format", fmt, check=True).stdout
            assert shown == " ".join(_go_string(t) for t in json_times) + "\n", command
        assert "0001-01-01 00:00:00 +0000 UTC" in husk("inspect", "--format", "{{.State.StartedAt}}", name).stdout
        created = json.loads(husk("inspect", name, check=True).stdout)[0]["Created"]
        shown = husk("ps", "-a", "--filter", f"name={name}", "--format",
                     "{{.CreatedAt}}|{{.Created}}|{{.StartedAt}}|{{.ExitedAt}}", check=True).stdout
        assert shown == f"{_go_string(created)}|{_go_string(created)}|-62135596800|-62135596800\n"  # never: Go's zero
        [row] = json.loads(husk("ps", "-a", "--filter", f"name={name}", "--format", "json", check=True).stdout)
        assert (row["StartedAt"], row["ExitedAt"]) == (-62135596800, -62135596800) and isinstance(row["Created"], int)
        image_created = json.loads(husk("image", "inspect", IMAGE, check=True).stdout)[0]["Created"]
        shown = husk("images", "--format", "{{.CreatedAt}}|{{.CreatedTime}}", IMAGE, check=True).stdout
        assert shown == "|".join([_go_string(image_created[:19] + "Z")] * 2) + "\n"  # whole seconds, as podman's
        # podman 4.3.1: images' {{.Created}} is its CreatedSince ('19 hours ago'; husk printed Unix seconds),
        # history's CreatedAt the time in whole seconds and CreatedSince its Created (husk had neither)
        shown = husk("images", "--format", "{{.Created}}|{{.CreatedSince}}", IMAGE, check=True).stdout
        assert re.fullmatch(r"(.+ ago)\|\1\n", shown), shown
        for flag, since in (("-H=true", r".+ ago"), ("-H=false", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)")):
            shown = husk("image", "history", flag, "--format", "{{.Created}}|{{.CreatedSince}}|{{.CreatedAt}}", IMAGE,
                         check=True).stdout
            assert re.fullmatch(rf"({since})\|\1\|{re.escape(_go_string(image_created[:19] + 'Z'))}\n", shown), shown
    finally:
        husk("rm", "-f", name)
        husk("pod", "rm", pod)
        husk("volume", "rm", volume)
        husk("secret", "rm", secret)
