"""`inspect` of volumes, networks and pods (podman 4.3's --type volume|network|pod,
and --type all looking in its order: container, image, volume, network, pod), and
their missing names in podman's words."""

import json

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
