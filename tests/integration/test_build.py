"""husk build: real builds (each RUN in a real container on runc and crun) from the busybox image."""

import io
import json
import os
import signal
import subprocess
import tarfile

import pytest

from husk.testing import IMAGE, build_tar, needs_registry, start_registry


def _context(tmp_path, containerfile: str, files: dict | None = None) -> str:
    root = tmp_path / "ctx"
    root.mkdir(exist_ok=True)
    (root / "Containerfile").write_text(containerfile)
    for name, data in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(root)


def _from_stdin(husk, context: bytes, *args: str):
    """`husk build ARGS -` with `context` (a tar) on stdin; output as text."""
    result = husk("build", *args, "-", input=context, timeout=120)
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    return result


def _leftovers(husk) -> tuple[str, list[str]]:
    """(containers, image names or ids) that exist: a build leaves no container and no intermediate image."""
    containers = husk("ps", "-aq", check=True).stdout
    images = husk("images", "-a", "--format", "{{.Repository}}", check=True).stdout.split()
    return containers, sorted(images)


def _config(husk, name: str) -> dict:
    return json.loads(husk("image", "inspect", name, check=True).stdout)[0]


def test_a_build_runs_copies_and_sets_the_config(husk_rt, tmp_path):
    husk = husk_rt
    context = _context(tmp_path, f"""\
ARG BASE={IMAGE}
FROM ${{BASE}}
ARG GREETING=hello
ENV A=1 B="two words"
RUN echo "run says $GREETING $A $B" && mkdir -p /out && echo built > /out/x
COPY a.txt /tmp/
COPY dir /data
WORKDIR /work/sub
USER 1000:1000
LABEL org.test=yes
EXPOSE 80 90/udp
VOLUME /vol
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD true
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /tmp/a.txt"]
""", {"a.txt": "from the context\n", "dir/e/f": "deep\n"})
    result = husk("build", "-t", "app", "-t", "localhost/other:2", "--iidfile", str(tmp_path / "iid"), context)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "STEP 1/15: FROM ${BASE}"
    assert "STEP 4/15: RUN echo \"run says $GREETING $A $B\" && mkdir -p /out && echo built > /out/x" in lines
    assert "run says hello 1 two words" in lines
    assert "COMMIT app" in lines and "Successfully tagged localhost/app:latest" in lines
    assert "Successfully tagged localhost/other:2" in lines
    image_id = lines[-1]
    assert len(image_id) == 64 and lines[-4] == f"--> {image_id[:11]}"
    assert (tmp_path / "iid").read_text() == f"sha256:{image_id}"
    inspect = _config(husk, "localhost/app")
    config = inspect["Config"]
    assert inspect["Id"].removeprefix("sha256:") == image_id
    assert "A=1" in config["Env"] and "B=two words" in config["Env"]
    assert not any(entry.startswith("GREETING=") for entry in config["Env"])  # ARG is no ENV
    assert config["WorkingDir"] == "/work/sub" and config["User"] == "1000:1000"
    assert config["Labels"]["org.test"] == "yes"
    assert config["Entrypoint"] == ["/bin/sh", "-c"] and config["Cmd"] == ["cat /tmp/a.txt"]
    assert config["StopSignal"] == "SIGINT"
    run = husk("run", "--rm", "--user", "0", "localhost/app",
               "cat /tmp/a.txt /data/e/f /out/x; stat -c %a /tmp; pwd", check=True)
    assert run.stdout == "from the context\ndeep\nbuilt\n1777\n/work/sub\n"  # /tmp keeps its 1777
    history = husk("history", "--format", "{{.CreatedBy}}", "localhost/app", check=True).stdout.splitlines()
    assert history[0] == '/bin/sh -c #(nop) CMD ["cat /tmp/a.txt"]'
    assert "/bin/sh -c #(nop) COPY a.txt /tmp/" in history
    assert _leftovers(husk) == ("", sorted(["localhost/app", "localhost/other", "localhost/busybox"]))


def test_the_cache(husk, tmp_path):
    containerfile = f"FROM {IMAGE}\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCMD [\"sh\"]\n"
    context = _context(tmp_path, containerfile, {"a.txt": "one\n", "other.txt": "x"})
    cold = husk("build", "-t", "cached", context, check=True).stdout.splitlines()
    assert not any("Using cache" in line for line in cold)
    warm = husk("build", "-t", "cached", context, check=True).stdout.splitlines()
    assert warm[-1] == cold[-1]  # the very same image
    assert sum("--> Using cache" in line for line in warm) == 4
    (tmp_path / "ctx" / "other.txt").write_text("not copied")  # a file no step reads: still all cached
    assert husk("build", context, check=True).stdout.splitlines()[-1] == cold[-1]
    (tmp_path / "ctx" / "a.txt").write_text("two\n")
    changed = husk("build", "-t", "cached", context, check=True).stdout.splitlines()
    step = {line.split(":")[0]: i for i, line in enumerate(changed) if line.startswith("STEP")}
    assert changed[step["STEP 2/5"] + 1].startswith("--> Using cache")  # before the COPY: cached
    assert not changed[step["STEP 3/5"] + 1].startswith("--> Using cache")  # from the COPY on: rebuilt
    assert not changed[step["STEP 4/5"] + 1].startswith("--> Using cache")
    assert husk("run", "--rm", "cached", "cat", "/copy", check=True).stdout == "two\n"
    no_cache = husk("build", "--no-cache", context, check=True).stdout
    assert "Using cache" not in no_cache
    assert "Using cache" not in husk("build", "--layers=false", context, check=True).stdout
    args = husk("build", "--build-arg", "UNUSED=1", context, check=True).stdout
    assert "[Warning] one or more build args were not consumed: [UNUSED]" in args


def test_a_failing_run_stops_the_build_and_keeps_the_cache(husk_rt, tmp_path):
    husk = husk_rt
    context = _context(tmp_path, f"FROM {IMAGE}\nRUN echo before > /b\nRUN echo boom; exit 3\nRUN echo never\n")
    result = husk("build", "-t", "failing", context)
    assert result.returncode == 3, result.stderr
    assert "boom" in result.stdout and "never" not in result.stdout
    assert result.stderr == 'Error: building at STEP "RUN echo boom; exit 3": while running runtime: exit status 3\n'
    assert _leftovers(husk) == ("", ["localhost/busybox"])
    with open(os.path.join(context, "Containerfile"), "w") as file:
        file.write(f"FROM {IMAGE}\nRUN echo before > /b\nRUN echo fixed\n")
    again = husk("build", context, check=True).stdout.splitlines()
    assert again[again.index("STEP 2/3: RUN echo before > /b") + 1].startswith("--> Using cache")


def test_multi_stage_builds_only_what_the_target_needs(husk, tmp_path):
    context = _context(tmp_path, f"""\
FROM {IMAGE} AS builder
RUN echo compiled > /artifact
FROM {IMAGE} AS unused
RUN echo this stage is never built; exit 1
FROM scratch
COPY --from=builder /artifact /artifact
COPY --from=0 /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/artifact"]
""")
    result = husk("build", "-t", "multi", context)
    assert result.returncode == 0, result.stderr
    assert "never built" not in result.stdout
    assert "[1/3] STEP 1/2: FROM localhost/busybox:latest AS builder" in result.stdout
    assert "[3/3] STEP 1/4: FROM scratch" in result.stdout
    assert husk("run", "--rm", "multi", check=True).stdout == "compiled\n"
    assert len(_config(husk, "multi")["RootFS"]["Layers"]) == 2
    target = husk("build", "--target", "builder", "-t", "only-builder", context)
    assert target.returncode == 0, target.stderr
    assert "scratch" not in target.stdout
    assert husk("run", "--rm", "only-builder", "cat", "/artifact", check=True).stdout == "compiled\n"
    missing = husk("build", "--target", "nope", context)
    assert missing.returncode == 125 and missing.stderr.count("\n") == 1


def test_dockerignore_and_a_containerfile_outside_the_context(husk, tmp_path):
    context = _context(tmp_path, "", {
        ".dockerignore": "*.md\n!README.md\nsecret/\n**/*.tmp\n",
        "README.md": "r", "NOTES.md": "n", "secret/key": "k", "keep/a.txt": "a", "keep/b.tmp": "b", "c.tmp": "c"})
    outside = tmp_path / "elsewhere.Containerfile"
    outside.write_text(f"FROM {IMAGE}\nCOPY . /ctx/\n")
    husk("build", "-f", str(outside), "-t", "ignored", context, check=True)
    listing = husk("run", "--rm", "ignored", "sh", "-c", "cd /ctx && find . -type f | sort", check=True).stdout
    assert listing.split() == ["./.dockerignore", "./Containerfile", "./README.md", "./keep/a.txt"]


def test_hostile_contexts_never_escape(husk, tmp_path):
    context = _context(tmp_path, "", {"dir/real": "inside\n"})
    os.symlink("/etc/shadow", os.path.join(context, "shadow"))
    os.symlink("/etc", os.path.join(context, "dir", "etc"))
    for containerfile, message in [(f"FROM {IMAGE}\nCOPY shadow /x\n", "no such file or directory"),
                                   (f"FROM {IMAGE}\nCOPY ../../../../etc/passwd /x\n", "no such file or directory"),
                                   (f"FROM {IMAGE}\nCOPY dir/etc/passwd /x\n", "no such file or directory")]:
        (tmp_path / "ctx" / "Containerfile").write_text(containerfile)
        result = husk("build", context)
        assert result.returncode == 125 and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    (tmp_path / "ctx" / "Containerfile").write_text(f"FROM {IMAGE}\nCOPY dir /dir\n")
    husk("build", "-t", "links", context, check=True)
    shown = husk("run", "--rm", "links", "sh", "-c", "readlink /dir/etc; cat /dir/real", check=True).stdout
    assert shown == "/etc\ninside\n"  # the symlink itself is copied, never what it points to on the host
    escaping = build_tar((_info("Containerfile"), f"FROM {IMAGE}\n".encode()), (_info("../evil"), b"x"))
    result = _from_stdin(husk, escaping)
    assert result.returncode == 125 and "evil" in result.stderr, result.stderr
    device = tarfile.TarInfo("null")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    result = _from_stdin(husk, build_tar((_info("Containerfile"), f"FROM {IMAGE}\n".encode()), (device, None)))
    assert result.returncode == 125 and "device nodes" in result.stderr, result.stderr


def _info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info


def test_a_context_on_stdin_add_of_an_archive_chown_chmod_heredocs(husk, tmp_path):
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as archive:
        data = b"unpacked\n"
        member = tarfile.TarInfo("pkg/file")
        member.size, member.mode = len(data), 0o640
        archive.addfile(member, io.BytesIO(data))
    containerfile = f"""\
# escape=`
FROM {IMAGE}
ARG NAME
ENV GREETING=${{NAME:-nobody}} MARK=${{NAME:+set}}
ADD pkg.tar.gz /opt/
COPY --chown=1:2 --chmod=600 plain /plain
COPY <<EOT /from-heredoc
hello $GREETING
EOT
RUN <<EOF
echo "$GREETING[$MARK]" > /greeting
EOF
RUN echo one `
    two > /continued
"""
    context = build_tar((_info("Containerfile"), containerfile.encode()), (_info("pkg.tar.gz"), inner.getvalue()),
                        (_info("plain"), b"p"))
    result = _from_stdin(husk, context, "-t", "stdin")
    assert result.returncode == 0, result.stderr
    shown = husk("run", "--rm", "stdin", "sh", "-c",
                 "cat /opt/pkg/file /from-heredoc /greeting /continued; stat -c '%u:%g %a' /plain /opt/pkg/file",
                 check=True).stdout
    assert shown == "unpacked\nhello $GREETING\nnobody[]\none two\n1:2 600\n0:0 640\n"
    named = _from_stdin(husk, context, "--build-arg", "NAME=ann", "-q")
    assert named.returncode == 0 and len(named.stdout.split()) == 1, named.stderr  # --quiet: only the id
    assert husk("run", "--rm", named.stdout.strip(), "cat", "/greeting", check=True).stdout == "ann[set]\n"


def test_syntax_errors_and_a_missing_context(husk, tmp_path):
    context = _context(tmp_path, f"FROM {IMAGE}\nFOO bar\n")
    result = husk("build", context)
    assert (result.returncode, result.stderr) == (125, "Error: Containerfile:2: unknown instruction: FOO\n")
    result = husk("build", str(tmp_path / "nothing-here"))
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    (tmp_path / "ctx" / "Containerfile").write_text("FROM localhost/no-such-image\n")
    result = husk("build", context)
    assert result.returncode == 125 and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_build_cleans_up(husk, tmp_path, signal_number):
    context = _context(tmp_path, f"FROM {IMAGE}\nRUN echo started; sleep 600\n")
    process = husk.popen("build", context, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = b""
        while b"started" not in seen:
            line = process.stdout.readline()
            assert line, seen + process.stderr.read()
            seen += line
        process.send_signal(signal_number)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert _leftovers(husk) == ("", ["localhost/busybox"])
    with open("/proc/self/mountinfo") as mounts:
        assert not [line for line in mounts if husk.root in line]


def test_run_mounts_bind_cache_tmpfs_secret(husk_rt, tmp_path):
    husk = husk_rt
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value")
    context = _context(tmp_path, f"""\
FROM {IMAGE} AS stage
RUN echo from-stage > /staged
FROM {IMAGE}
RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt > /copied
RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /cachecount
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /tmpfslist
RUN --mount=type=secret,id=tok,required cp /run/secrets/tok /dev/null && echo seen > /secretseen
RUN --mount=type=bind,from=stage,source=/staged,target=/s cat /s > /fromstage
""", {"data.txt": "from the context\n"})
    husk("build", "-t", "mounts", "--secret", f"id=tok,src={secret}", context, check=True)
    shown = husk("run", "--rm", "mounts", "sh", "-c",
                 "cat /copied /cachecount /tmpfslist /secretseen /fromstage; "
                 "find /mnt /scratch /cache /run/secrets -mindepth 1",
                 check=True).stdout
    assert shown == "from the context\n1\nx\nseen\nfrom-stage\n"  # the mount points are empty
    husk("build", "--no-cache", "-t", "mounts", "--secret", f"id=tok,src={secret}", context, check=True)
    assert husk("run", "--rm", "mounts", "cat", "/cachecount", check=True).stdout == "2\n"  # the cache persists
    layers = os.path.join(husk.root, "layers")
    for layer in os.listdir(layers):
        with open(os.path.join(layers, layer, "layer.tar"), "rb") as archive:
            assert b"s3cr3t-value" not in archive.read()
    missing = husk("build", "--no-cache", context)
    assert missing.returncode == 125 and "secret 'tok' is required" in missing.stderr, missing.stderr
    assert _leftovers(husk)[0] == ""
    with open("/proc/self/mountinfo") as mounts:
        assert not [line for line in mounts if husk.root in line]


@needs_registry
def test_from_pulls_a_missing_image(husk, tmp_path):
    registry = start_registry(str(tmp_path / "registry"))
    try:
        registry.trust(husk)
        archive = str(tmp_path / "seed.tar")
        husk("save", "-o", archive, IMAGE, check=True)
        subprocess.run(["skopeo", "copy", "-q", "--dest-cert-dir", registry.cert_dir, f"docker-archive:{archive}",
                        f"docker://{registry.host}/base:1"], check=True, capture_output=True, timeout=60)
        context = _context(tmp_path, f"FROM {registry.host}/base:1\nRUN echo on-the-pulled-image > /x\n")
        never = husk("build", "--pull=never", context)
        assert never.returncode == 125 and never.stderr.count("\n") == 1, never.stderr
        built = husk("build", "-t", "on-pulled", context)
        assert built.returncode == 0, built.stderr
        assert f"Trying to pull {registry.host}/base:1..." in built.stdout
        assert husk("run", "--rm", "on-pulled", "cat", "/x", check=True).stdout == "on-the-pulled-image\n"
        assert husk("image", "exists", f"{registry.host}/base:1").returncode == 0
    finally:
        registry.stop()


def test_add_of_a_url_over_loopback(husk, tmp_path):
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "tool.txt").write_text("downloaded\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tool.txt"
        context = _context(tmp_path, f"FROM {IMAGE}\nADD {url} /dl/\nADD {url} /renamed\n")
        husk("build", "-t", "fetched", context, check=True)
        shown = husk("run", "--rm", "fetched", "sh", "-c", "cat /dl/tool.txt /renamed; stat -c %a /dl/tool.txt",
                     check=True).stdout
        assert shown == "downloaded\ndownloaded\n600\n"
        assert husk("build", context, check=True).stdout.count("--> Using cache") == 2
        (served / "tool.txt").write_text("changed\n")
        assert "--> Using cache" not in husk("build", context, check=True).stdout
        (tmp_path / "ctx" / "Containerfile").write_text(f"FROM {IMAGE}\nADD {url}.missing /x\n")
        missing = husk("build", context)
        assert missing.returncode == 125 and "HTTP 404" in missing.stderr, missing.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert not os.listdir(os.path.join(husk.root, "build-tmp"))


def test_build_arg_files_and_platforms(husk, tmp_path):
    host = husk("info", "--format", "{{.Host.Arch}}", check=True).stdout.strip()
    context = _context(tmp_path, f"FROM --platform=linux/{host} {IMAGE}\nARG A\nARG B\nLABEL a=$A b=$B\n")
    (tmp_path / "args").write_text("# build args\nA=from-file\n\nB=file\n")
    husk("build", "-t", "args", "--build-arg-file", str(tmp_path / "args"), "--build-arg", "B=flag", context,
         check=True)
    assert _config(husk, "args")["Config"]["Labels"] == {"a": "from-file", "b": "flag"}
    other = husk("build", "--platform", "linux/s390x", context)
    assert other.returncode == 125 and "not this host's" in other.stderr and other.stderr.count("\n") == 1
    (tmp_path / "ctx" / "Containerfile").write_text(f"FROM --platform=linux/s390x {IMAGE}\n")
    assert husk("build", context).returncode == 125


def test_independent_stages_build_at_once(husk, tmp_path):
    """Each stage's RUN waits (60 s at most) for a file the other one writes in a
    shared cache mount: the build succeeds only when the two run at the same time."""
    wait = "for i in $(seq 600); do [ -e /c/{0} ] && break; sleep 0.1; done; [ -e /c/{0} ] && echo {1} > /{1}"
    context = _context(tmp_path, f"""\
FROM {IMAGE} AS left
RUN --mount=type=cache,id=meet,target=/c touch /c/left && {wait.format("right", "left")}
FROM {IMAGE} AS right
RUN --mount=type=cache,id=meet,target=/c touch /c/right && {wait.format("left", "right")}
FROM {IMAGE}
COPY --from=left /left /left
COPY --from=right /right /right
""")
    result = husk("build", "-t", "parallel", context, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert husk("run", "--rm", "parallel", "cat", "/left", "/right", check=True).stdout == "left\nright\n"
    assert _leftovers(husk) == ("", ["localhost/busybox", "localhost/parallel"])


def test_squash_squash_all_and_layers_false(husk_rt, tmp_path):
    husk = husk_rt
    context = _context(tmp_path, f"FROM {IMAGE}\nRUN echo a > /a\nRUN rm /bin/ls\nRUN echo b > /b\nCOPY f /f\n",
                       {"f": "file\n"})
    check = "cat /a /b /f; test -e /bin/ls || echo no-ls; stat -c %a /tmp"
    for flags, layers in ((["--squash"], 2), (["--squash-all"], 1), (["--layers=false"], 2), ([], 5)):
        name = f"squashed{len(flags) and flags[0].strip('-=').replace('=', '-')}"
        husk("build", *flags, "-t", name, context, check=True)
        inspect = _config(husk, name)
        assert len(inspect["RootFS"]["Layers"]) == layers, flags
        assert husk("run", "--rm", name, "sh", "-c", check, check=True).stdout == "a\nb\nfile\nno-ls\n1777\n"
        history = husk("history", "--format", "{{.CreatedBy}}", name, check=True).stdout.splitlines()
        assert history[0] == "/bin/sh -c #(nop) COPY f /f", flags
    assert _leftovers(husk)[0] == ""


def test_a_failing_stage_stops_the_stages_running_beside_it(husk, tmp_path):
    context = _context(tmp_path, f"""\
FROM {IMAGE} AS slow
RUN echo slow started; sleep 600
FROM {IMAGE} AS failing
RUN exit 5
FROM {IMAGE}
COPY --from=slow /etc/hostname /a
COPY --from=failing /etc/hostname /b
""")
    result = husk("build", context, timeout=180)
    assert result.returncode == 5, result.stderr
    assert result.stderr == 'Error: building at STEP "RUN exit 5": while running runtime: exit status 5\n'
    assert _leftovers(husk) == ("", ["localhost/busybox"])


def _saved_config(husk, tmp_path, name: str) -> dict:
    """The image's config JSON as `husk save` writes it (every field Docker's format has)."""
    archive = tmp_path / f"{name.replace('/', '_')}.tar"
    husk("save", "-o", str(archive), name, check=True)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        return json.load(tar.extractfile(manifest[0]["Config"]))


def test_shell_healthcheck_onbuild_and_entrypoint_semantics(husk, tmp_path):
    context = _context(tmp_path, f"""\
FROM {IMAGE}
SHELL ["/bin/sh", "-ec"]
RUN echo "shell is $0" > /shell
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD ["true"]
ONBUILD RUN echo triggered > /onbuild
VOLUME ["/data"]
CMD ["from-cmd"]
ENTRYPOINT ["/bin/echo"]
RUN --network=none cat /proc/net/dev | grep -c : > /interfaces
""")
    husk("build", "-t", "parent", context, check=True)
    config = _saved_config(husk, tmp_path, "localhost/parent")["config"]
    assert config["Shell"] == ["/bin/sh", "-ec"]
    assert config["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Timeout": 3_000_000_000,
                                     "Retries": 2}
    assert config["OnBuild"] == ["RUN echo triggered > /onbuild"]
    assert config["Volumes"] == {"/data": {}}
    assert config["Entrypoint"] == ["/bin/echo"] and config["Cmd"] == ["from-cmd"]  # CMD set in this stage stays
    shown = husk("run", "--rm", "--entrypoint", "", "parent", "cat", "/shell", "/interfaces", check=True).stdout
    assert shown == "shell is /bin/sh\n1\n"  # the SHELL ran the RUN; --network=none: only lo
    (tmp_path / "ctx" / "Containerfile").write_text("FROM localhost/parent\nENTRYPOINT [\"/bin/cat\"]\n")
    child = husk("build", "-t", "child", context, check=True)
    assert "STEP 1/2: FROM localhost/parent" in child.stdout
    child_config = _saved_config(husk, tmp_path, "localhost/child")["config"]
    assert "OnBuild" not in child_config or not child_config["OnBuild"]  # triggers run once, not inherited
    assert child_config.get("Cmd") is None  # ENTRYPOINT drops an inherited CMD
    assert husk("run", "--rm", "child", "/onbuild", check=True).stdout == "triggered\n"


@needs_registry
def test_cache_to_and_from_a_registry_with_its_credentials(husk, tmp_path):
    """--cache-to pushes each built step tagged with its key, --cache-from pulls it back when
    the local cache misses (the RUN does not run again: same output, same image id). The
    registry asks for a password and has its own CA: --creds, --authfile, --cert-dir and
    --tls-verify=false each reach it, and without them the build is refused."""
    import base64

    registry = start_registry(str(tmp_path / "registry"), "basic")
    try:
        creds = f"{registry.user}:{registry.password}"
        context = _context(tmp_path, f"FROM {IMAGE}\nRUN cat /proc/sys/kernel/random/uuid > /stamp\nCOPY f /f\n",
                           {"f": "copied\n"})
        cache = f"{registry.host}/cache"
        refused = husk("build", "--cache-to", cache, context, timeout=300)  # no CA, no credentials
        assert refused.returncode == 125 and refused.stderr.startswith("Error: "), refused.stderr
        first = husk("build", "-t", "one", "--cache-to", cache, "--creds", creds, "--cert-dir", registry.cert_dir,
                     "--annotation", "org.test.note=kept", "-q", context, timeout=300)
        assert first.returncode == 0, first.stderr
        one = first.stdout.split()[-1]
        stamp = husk("run", "--rm", "one", "cat", "/stamp", check=True).stdout
        tags = subprocess.run(["skopeo", "list-tags", "--cert-dir", registry.cert_dir, "--creds", creds,
                               f"docker://{cache}"], capture_output=True, text=True, timeout=60)
        assert tags.returncode == 0, tags.stderr
        assert len(json.loads(tags.stdout)["Tags"]) == 2  # the RUN's and the COPY's
        assert json.loads(husk("image", "inspect", "--format", "{{json .Annotations}}", "one",
                               check=True).stdout) == {"org.test.note": "kept"}
        # nothing local is left: the image, and the cache with it
        husk("rmi", "one", check=True)
        husk("builder", "prune", "-a", "-f", check=True)
        auth = tmp_path / "auth.json"
        auth.write_text(json.dumps({"auths": {registry.host: {"auth": base64.b64encode(creds.encode()).decode()}}}))
        second = husk("build", "-t", "two", "--cache-from", cache, "--authfile", str(auth), "--tls-verify=false",
                      "--annotation", "org.test.note=again", context, timeout=300)
        assert second.returncode == 0, second.stderr
        assert second.stdout.count("--> Using cache ") == 2, second.stdout
        assert second.stdout.splitlines()[-1] == one
        assert husk("run", "--rm", "two", "cat", "/stamp", check=True).stdout == stamp
        names = husk("images", "-a", "--format", "{{.Repository}}", check=True).stdout.split()
        assert not [name for name in names if name.startswith(registry.host)]  # cache images are not kept
        husk("push", "--creds", creds, "--cert-dir", registry.cert_dir, "two", f"{registry.host}/annotated:1",
             check=True, timeout=120)
        manifest = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", registry.cert_dir, "--creds", creds,
                                   f"docker://{registry.host}/annotated:1"], capture_output=True, text=True, timeout=60)
        assert json.loads(manifest.stdout)["annotations"] == {"org.test.note": "again"}, manifest.stderr
    finally:
        registry.stop()


def test_isolation_other_than_oci_is_refused(husk, tmp_path):
    context = _context(tmp_path, f"FROM {IMAGE}\n")
    for args, env in ((["--isolation", "chroot"], {}), ([], {"BUILDAH_ISOLATION": "rootless"})):
        husk.extra_env.update(env)
        result = husk("build", *args, context)
        husk.extra_env.pop("BUILDAH_ISOLATION", None)
        assert result.returncode == 125
        assert result.stderr == (f"Error: --isolation {args[1] if args else 'rootless'}: husk runs each RUN step as "
                                 "a container on the OCI runtime; only oci isolation is supported\n")
    assert husk("build", "--isolation", "oci", "-q", context).returncode == 0


def _screen(output: bytes) -> list[str]:
    """What a terminal shows after `output`: lines, with the cursor-up and clear-line
    sequences the compact view uses applied (colours dropped)."""
    import re

    lines, row = [""], 0
    for token in re.split(rb"(\x1b\[[0-9;]*[A-Za-z]|\r?\n)", output):
        if token in (b"\n", b"\r\n"):
            row += 1
            if row == len(lines):
                lines.append("")
        elif token == b"\x1b[1A":
            row = max(row - 1, 0)
        elif token == b"\x1b[2K":
            lines[row] = ""
        elif token and not token.startswith(b"\x1b"):
            lines[row] += token.decode(errors="replace")
    return [line for line in lines[:row] if line]


def test_a_terminal_gets_the_compact_progress_view(husk, tmp_path):
    from husk.testing import HUSK, PtyTerminal

    context = _context(tmp_path, f"FROM {IMAGE}\nRUN for i in 1 2 3 4 5 6 7 8; do echo noisy-$i; done\n"
                                 "RUN echo last words; exit 3\n")
    terminal = PtyTerminal([HUSK, *husk.global_args, "build", context], husk.env())
    try:
        terminal.expect(rb"exit status 3\r?\n", timeout=240)  # the whole line: the screen keeps ended lines
        assert terminal.wait(timeout=60) == 3
        terminal.expect(rb"$")
    finally:
        terminal.close()
    screen = _screen(terminal.output)
    # the step lines stay, the first RUN's output was shown in the window and erased, the
    # failing step's whole output stays
    assert screen[:2] == [f"STEP 1/3: FROM {IMAGE}",
                          "STEP 2/3: RUN for i in 1 2 3 4 5 6 7 8; do echo noisy-$i; done"]
    assert not [line for line in screen if "noisy-" in line and "STEP" not in line]
    assert "STEP 3/3: RUN echo last words; exit 3" in screen
    assert screen[-2:] == ["last words", 'Error: building at STEP "RUN echo last words; exit 3": while running '
                                         "runtime: exit status 3"]
    assert b"\x1b[1A\x1b[2K" in terminal.output  # a window was drawn and erased
    plain = husk("build", "--no-cache", context)  # not a terminal: podman's plain stream, every line
    assert "noisy-8\n" in plain.stdout and "\x1b" not in plain.stdout



def test_from_an_image_whose_history_entries_have_no_time(husk, tmp_path):
    """Every field of a history entry is optional (the OCI spec): a FROM-only
    build of an image whose last entry has no `created` failed with
    `internal error: KeyError: 'created'`."""
    import hashlib

    layer = build_tar((tarfile.TarInfo("hello"), b"hi\n"))
    config = json.dumps({"os": "linux", "architecture": "amd64", "history": [{"created_by": "made by a tool"}],
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}})
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["localhost/untimed:1"], "Layers": ["l.tar"]}])
    archive = build_tar((tarfile.TarInfo("c.json"), config.encode()), (tarfile.TarInfo("l.tar"), layer),
                        (tarfile.TarInfo("manifest.json"), manifest.encode()))
    husk("load", input=archive, check=True)
    result = husk("build", "-t", "localhost/rebuilt:1", _context(tmp_path, "FROM localhost/untimed:1\n"),
                  timeout=120)
    assert result.returncode == 0, result.stderr
    assert _config(husk, "localhost/rebuilt:1")["History"][-1]["created_by"] == "made by a tool"


def test_an_env_secrets_file_is_gone_after_the_build(husk, tmp_path):
    """--secret id=ID,env=VAR writes the value to a 0600 temporary file for the build; it
    must not outlive the build (the CLI's quick exit skipped the interpreter's teardown,
    which was what deleted it)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    context = _context(tmp_path, f"""\
FROM {IMAGE}
RUN --mount=type=secret,id=tok,required grep -q env-s3cret /run/secrets/tok && echo seen > /secretseen
""")
    husk.extra_env.update(TMPDIR=str(scratch), HUSK_TEST_TOKEN="env-s3cret")
    try:
        husk("build", "-t", "envsecret", "--secret", "id=tok,env=HUSK_TEST_TOKEN", context, check=True)
    finally:
        for key in ("TMPDIR", "HUSK_TEST_TOKEN"):
            husk.extra_env.pop(key)
    assert husk("run", "--rm", "envsecret", "cat", "/secretseen", check=True).stdout == "seen\n"
    assert [name for name in os.listdir(scratch) if name.startswith("husk-secret-")] == []
