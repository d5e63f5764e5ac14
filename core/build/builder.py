"""Running a Containerfile: stages, steps, the cache, the final image.

Each stage starts from its FROM (a local image, an earlier stage, or
`scratch`) and carries a :class:`State`: its layers, Docker's run config
(`Env`, `Cmd`, ...) and history.  Metadata instructions change the config
and add an empty-layer history entry; RUN runs in a real husk container
(created from the state, registered as an intermediate image for the
moment) and commits its changes as a layer; COPY and ADD write their layer
directly (:mod:`husk.build.files`).  Only the stages the target needs are
built.  Every step's result is cached (:mod:`husk.build.cache`)."""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import threading
import time
from typing import TYPE_CHECKING, Callable

from ..define import HuskError, InvalidArgument, NoSuchImage
from ..formats.environment import utf8_json
from .cache import Cache, image_fields, step_key
from .parsing import Containerfile, Instruction, SyntaxProblem
from .mounted import Mounted
from .words import expand, expand_words

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..storage.pull import PullOptions
    from .context import Context

#: the ARGs Docker defines without a declaration
PREDEFINED_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                   "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
DEFAULT_SHELL = ["/bin/sh", "-c"]


class StepFailed(HuskError):
    """A RUN whose command failed: the exit code is the command's."""


class BuildCancelled(HuskError):
    """The build's client went away (or it was interrupted): it stopped and cleaned up."""

    default_message = "the build was cancelled"


@dataclasses.dataclass
class Options:
    tags: list[str] = dataclasses.field(default_factory=list)
    build_args: dict[str, str] = dataclasses.field(default_factory=dict)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    layers: bool = True
    format: str = "oci"
    network: str = "host"
    quiet: bool = False
    #: `--squash`: the target stage's new layers as one; `--squash-all`: the whole image as one layer
    squash: bool = False
    squash_all: bool = False
    #: how many independent stages may build at once
    jobs: int = 2
    #: `--pull`: when a FROM image is pulled (always, missing, never, newer)
    pull: str = "missing"
    #: `--secret id=ID,src=FILE`: ID -> the file RUN --mount=type=secret binds
    secrets: dict[str, str] = dataclasses.field(default_factory=dict)
    #: `--cache-from` / `--cache-to`: repositories holding steps' results tagged with their keys
    cache_from: list[str] = dataclasses.field(default_factory=list)
    cache_to: list[str] = dataclasses.field(default_factory=list)
    #: how to reach registries (FROM's pulls, the cache's): TLS, certificates, credentials
    registry: "PullOptions | None" = None
    #: `--annotation KEY=VALUE`: the image manifest's annotations (pushed with the image)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    #: set by the API when its client has gone: the build stops at the next step or output
    cancelled: threading.Event | None = None


@dataclasses.dataclass
class Output:
    """Where the build reports: `line` for podman's step lines, `raw` for RUN's output."""

    line: Callable[[str], None]
    raw: Callable[[bytes], None]


@dataclasses.dataclass
class State:
    layers: list[str]
    config: dict
    history: list[dict]
    key: str
    size: int = 0
    platform: dict = dataclasses.field(default_factory=dict)

    def document(self) -> bytes:
        # an entry's fields are optional (the OCI spec's): a base image's last one may have no time
        created = (self.history[-1].get("created") if self.history else "") or "1970-01-01T00:00:00Z"
        document = {**self.platform, "config": self.config, "created": created, "history": self.history,
                    "rootfs": {"type": "layers", "diff_ids": list(self.layers)}}
        return utf8_json(document).encode()  # a --label or ARG's bytes that are not UTF-8: U+FFFD

    def image_id(self) -> str:
        import hashlib

        return hashlib.sha256(self.document()).hexdigest()

    def as_cached(self) -> dict:
        return {"layers": self.layers, "config": self.config, "history": self.history, "size": self.size,
                "platform": self.platform}


@dataclasses.dataclass
class Stage:
    index: int
    name: str
    base: str
    instructions: list[Instruction]
    line: Instruction


def split_stages(containerfile: Containerfile) -> tuple[list[Instruction], list[Stage]]:
    """The ARGs before the first FROM, and the stages."""
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for instruction in containerfile.instructions:
        if instruction.cmd == "FROM":
            name = instruction.args[2].lower() if len(instruction.args) == 3 else ""
            stages.append(Stage(len(stages), name, instruction.args[0], [], instruction))
        elif stages:
            stages[-1].instructions.append(instruction)
        else:
            meta.append(instruction)
    return meta, stages


def _now() -> str:
    from ..formats.timestamps import format_rfc3339_nano

    return format_rfc3339_nano(time.time_ns())


def _exposed(ports: list[str]) -> list[str]:
    """EXPOSE's `80`, `80/udp`, `8000-8002/tcp` as Docker's `port/proto` keys."""
    found = []
    for port in ports:
        number, _, proto = port.partition("/")
        proto = proto.lower() or "tcp"
        low, _, high = number.partition("-")
        if proto not in ("tcp", "udp", "sctp") or not low.isdigit() or (high and not high.isdigit()):
            raise InvalidArgument(f"invalid port {port!r}: PORT[-PORT][/tcp|udp|sctp]")
        first, last = int(low), int(high or low)
        if not 0 < first <= last <= 65535:
            raise InvalidArgument(f"invalid port {port!r}: 1 to 65535")
        found += [f"{n}/{proto}" for n in range(first, last + 1)]
    return found


def check_platform(spec: str) -> None:
    """FROM --platform: only the host's platform can run RUN steps here."""
    from ..storage.pull import Platform

    wanted, host = Platform.parse(spec), Platform.parse()
    if (wanted.os, wanted.architecture) != (host.os, host.architecture):
        raise InvalidArgument(f"platform {spec!r} is not this host's ({host.os}/{host.architecture}): "
                              "building for another platform is not supported")


def _mount_sources(instruction: Instruction) -> list[str]:
    """The `from=` of a RUN's `--mount`s: stages it needs built first."""
    from .mounts import parse

    return [parse(value).get("from", "") for value in instruction.flag_values("mount")]


def _env_dict(config: dict) -> dict[str, str]:
    return dict(entry.partition("=")[::2] for entry in config.get("Env") or [])


class Builder:
    def __init__(self, runtime: "Runtime", containerfile: Containerfile, filename: str, context: "Context",
                 options: Options, output: Output) -> None:
        self.runtime, self.file, self.filename = runtime, containerfile, filename
        self.context, self.options, self.out = context, options, output
        self.cache = Cache(runtime.paths.root)
        self.escape = containerfile.escape
        self.used_args: set[str] = set()
        self.stage_results: dict[int, State] = {}
        self.intermediates: list[str] = []
        #: each stage's FROM: (how many layers, how many history entries) its base has
        self.stage_bases: dict[int, tuple[int, int]] = {}
        #: what one stage's steps share (its ARGs, whether it set CMD): stages may run on threads of their own
        self._stage = threading.local()
        #: stops every stage at its next step (the API's client gone, another stage failed, Ctrl-C)
        self.cancel = options.cancelled or threading.Event()

    # -- the whole build --------------------------------------------------------------------
    def build(self) -> str:
        meta, stages = split_stages(self.file)
        self.meta_args = self._meta_args(meta)
        target = self._target(stages)
        needs = self._dependencies(stages)
        needed, pending = set(), [target.index]
        while pending:
            index = pending.pop()
            if index not in needed:
                needed.add(index)
                pending += needs[index]
        multi = len(needed) > 1
        try:
            self._run_stages(stages, [stage for stage in stages if stage.index in needed], needs,
                             len(stages) if multi else 0, target.index)
            final = self._commit(self._squashed(self.stage_results[target.index], target.index))
        finally:
            self._drop_intermediates()
        unused = sorted(set(self.options.build_args) - self.used_args - set(PREDEFINED_ARGS))
        if unused and not self.options.quiet:
            self.out.line(f"[Warning] one or more build args were not consumed: [{' '.join(unused)}]")
        return final

    def _run_stages(self, all_stages: list[Stage], stages: list[Stage], needs: dict[int, set[int]], count: int,
                    target: int) -> None:
        """Each stage once the stages it needs are built, up to `options.jobs` at a time.
        A stage waits only for stages of lower index, and the pool takes stages in
        index order, so a waiting stage's dependencies are running or done already."""
        from concurrent.futures import ThreadPoolExecutor, wait

        futures: dict = {}
        failures: list[BaseException] = []  # in the order they happened: the first is the cause

        def run(stage: Stage) -> None:
            try:
                for index in needs[stage.index]:
                    futures[index].result()
                prefix = f"[{stage.index + 1}/{count}] " if count else ""
                self.stage_results[stage.index] = self._run_stage(stage, all_stages, prefix,
                                                                  last=stage.index == target)
            except BaseException as exc:
                failures.append(exc)
                self.cancel.set()  # the other stages stop at their next step; their containers are killed
                raise

        pool = ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="husk-build")
        try:
            for stage in stages:
                futures[stage.index] = pool.submit(run, stage)
            wait(futures.values())
        except BaseException:  # Ctrl-C here, in the main thread
            self.cancel.set()
            raise
        finally:
            pool.shutdown(wait=True)
        if failures:  # the failure itself, not what the cancellation it caused made of the other stages
            raise failures[0]

    def _meta_args(self, meta: list[Instruction]) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in meta:
            for name, default in self._arg_pairs(instruction, values):
                values[name] = self.options.build_args.get(name, default) if name in self.options.build_args \
                    or default is not None else None
                if name in self.options.build_args:
                    self.used_args.add(name)
        return {k: v for k, v in values.items() if v is not None}

    def _target(self, stages: list[Stage]) -> Stage:
        wanted = self.options.target
        if not wanted:
            return stages[-1]
        for stage in stages:
            if stage.name == wanted.lower():
                return stage
        raise InvalidArgument(f"the target {wanted!r} was not found in the provided Containerfile")

    def _stage_ref(self, stages: list[Stage], name: str, before: int) -> Stage | None:
        for stage in stages[:before]:
            if stage.name and stage.name == name.lower():
                return stage
        if name.isdigit() and int(name) < before:
            return stages[int(name)]
        return None

    def _dependencies(self, stages: list[Stage]) -> dict[int, set[int]]:
        """Each stage's index -> the stages it needs built first (its FROM, COPY --from, RUN --mount from=)."""
        needs: dict[int, set[int]] = {}
        for stage in stages:
            refs = [expand(stage.base, self.meta_args, self.escape)]
            refs += [i.flag("from") for i in stage.instructions if i.cmd == "COPY" and i.flag("from")]
            refs += [mount_from for i in stage.instructions if i.cmd == "RUN"
                     for mount_from in _mount_sources(i) if mount_from]
            found = (self._stage_ref(stages, ref, stage.index) for ref in refs)
            needs[stage.index] = {other.index for other in found if other is not None}
        return needs

    # -- one stage ------------------------------------------------------------------------
    def _run_stage(self, stage: Stage, stages: list[Stage], prefix: str, last: bool) -> State:
        steps = [stage.line, *stage.instructions]
        self._stage.args = {}
        self._stage.cmd_set = False
        state: State | None = None
        for number, instruction in enumerate(steps, 1):
            self._say(f"{prefix}STEP {number}/{len(steps)}: {instruction.original.splitlines()[0]}"
                      + ("" if "\n" not in instruction.original else " ..."))
            try:
                if instruction.cmd == "FROM":
                    state = self._from(instruction, stages, stage.index)
                    self.stage_bases[stage.index] = (len(state.layers), len(state.history))
                    for trigger in state.config.pop("OnBuild", None) or []:
                        state = self._step(self._trigger(trigger, instruction), state, stages)
                else:
                    state = self._step(instruction, state, stages)
            except SyntaxProblem:
                raise
            except InvalidArgument as exc:
                raise InvalidArgument(f"{self.filename}:{instruction.line}: {instruction.cmd}: {exc}") from None
            if instruction.cmd != "FROM" and (number < len(steps) or not last):
                self._say(f"--> {state.image_id()[:11]}")
        return state

    def _trigger(self, text: str, where: Instruction) -> Instruction:
        from .parsing import parse

        parsed = parse(f"FROM scratch\n{text}\n", f"{self.filename}:{where.line} (ONBUILD)")
        return parsed.instructions[1]

    def _check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise BuildCancelled()

    def _say(self, text: str) -> None:
        self._check_cancelled()
        if not self.options.quiet:
            self.out.line(text)

    def _env(self, state: State) -> dict[str, str]:
        """What variables expand to in this step: the stage's ARGs, its ENV over them."""
        return {**self._stage.args, **_env_dict(state.config)}

    def _from(self, instruction: Instruction, stages: list[Stage], index: int) -> State:
        name = expand(instruction.args[0], self.meta_args, self.escape)
        platform_flag = instruction.flag("platform")
        if platform_flag:
            check_platform(expand(platform_flag, self.meta_args, self.escape))
        earlier = self._stage_ref(stages, name, index)
        if earlier is not None:
            base = self.stage_results[earlier.index]
            return dataclasses.replace(base, config=json.loads(json.dumps(base.config)))
        if name == "scratch":
            import platform

            machine = platform.machine()
            return State([], {}, [], step_key("scratch"), 0,
                         {"architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine),
                          "os": "linux"})
        image = self._base_image(name)
        return State(key=step_key("image", image.id), **image_fields(image))

    def _base_image(self, name: str):
        """FROM's image: stored, or pulled as `--pull` says (podman's policies)."""
        from ..storage.images import resolve_image
        from ..storage.pull import Progress, PullOptions, newer_available, pull

        policy = self.options.pull
        if policy not in ("always", "missing", "never", "newer"):
            raise InvalidArgument(f"invalid pull policy {policy!r}: always, missing, never or newer")
        local = None
        if policy != "always":
            try:
                local = resolve_image(self.runtime, name)
            except NoSuchImage:
                if policy == "never":
                    raise
        if local is not None and (policy != "newer" or not newer_available(local, self.options.registry
                                                                             or PullOptions())):
            return local
        builder = self

        class Report(Progress):
            def message(self, text: str) -> None:
                builder._say(text)

        return pull(self.runtime, name, self.options.registry, Report())[0]

    # -- one step -------------------------------------------------------------------------
    def _step(self, instruction: Instruction, state: State, stages: list[Stage]) -> State:
        env = self._env(state)
        cmd = instruction.cmd
        if cmd == "ARG":
            for name, default in self._arg_pairs(instruction, env):
                if name in self.options.build_args:
                    self.used_args.add(name)
                    self._stage.args[name] = self.options.build_args[name]
                elif default is not None:
                    self._stage.args[name] = default
                elif name in self.meta_args:
                    self._stage.args[name] = self.meta_args[name]
            return state  # ARG is no layer and no history entry (as buildah records it)
        reads = run_mounts = None
        try:
            if cmd in ("COPY", "ADD"):
                reads = self._sources(instruction, env, stages)
            summary = self._summary(instruction, env)
            extra = [s.checksum_fields() for s in reads[0]] if reads else None
            run_args = sorted(self._stage.args.items()) if cmd == "RUN" else None
            run_mounts = self._run_mounts(instruction, state, stages) if cmd == "RUN" else None
            return self._keyed_step(instruction, state, env, summary, reads, run_mounts,
                                    step_key(state.key, summary, extra, run_args, run_mounts and run_mounts.key))
        finally:
            if run_mounts is not None:
                run_mounts.close()
            if reads and reads[2] is not None:  # COPY --from's mounted source, ADD's downloads
                reads[2].__exit__(None, None, None)

    def _run_mounts(self, instruction: Instruction, state: State, stages: list[Stage]):
        from . import mounts

        return mounts.prepare(self, instruction.flag_values("mount"), state.config.get("WorkingDir") or "/", stages)

    def _keyed_step(self, instruction: Instruction, state: State, env: dict[str, str], summary: str, reads,
                    run_mounts, key: str) -> State:
        cmd = instruction.cmd
        if self.options.layers and not self.options.no_cache:
            cached = self.cache.get(key)
            if (cached is None or not self._layers_present(cached["layers"])) and self.options.cache_from:
                from . import remote_cache

                cached = remote_cache.fetch(self, key)
                if cached is not None:
                    self.cache.put(key, cached)
            if cached is not None and self._layers_present(cached["layers"]):
                new = State(cached["layers"], cached["config"], cached["history"], key, cached["size"],
                            cached.get("platform") or state.platform)
                self._say(f"--> Using cache {new.image_id()}")
                self._cache_to(new)
                self._after(instruction)
                return new
        config = json.loads(json.dumps(state.config))
        new = State(list(state.layers), config, list(state.history), key, state.size, state.platform)
        created_by = f"/bin/sh -c #(nop) {summary}"
        if cmd == "RUN":
            layer = self._run(instruction, state, run_mounts)
            created_by = f"/bin/sh -c {summary[4:]}" if not instruction.json else summary
            self._add_layer(new, layer)
        elif cmd in ("COPY", "ADD"):
            layer = self._copy(instruction, state, env, *reads)
            self._add_layer(new, layer)
        elif cmd == "WORKDIR":
            self._config(instruction, new, env)
            layer = self._workdir_layer(state, new.config["WorkingDir"])
            if layer is not None:
                self._add_layer(new, layer)
        else:
            self._config(instruction, new, env)
        entry = {"created": _now(), "created_by": created_by}
        if len(new.layers) == len(state.layers):
            entry["empty_layer"] = True
        new.history.append(entry)
        if self.options.layers:
            self.cache.put(key, new.as_cached())
            self._cache_to(new)
        self._after(instruction)
        return new

    def _cache_to(self, state: State) -> None:
        """`--cache-to`: every step's result, built or found in a cache, goes to the repositories."""
        if self.options.cache_to:
            from . import remote_cache

            remote_cache.store(self, state)

    def _after(self, instruction: Instruction) -> None:
        if instruction.cmd == "CMD":
            self._stage.cmd_set = True

    def _layers_present(self, layers: list[str]) -> bool:
        from ..storage.layer_store import layer_present

        try:
            return all(layer_present(self.runtime, layer) for layer in layers)
        except InvalidArgument:
            return False

    def _add_layer(self, state: State, layer) -> None:
        state.layers.append(layer.digest)
        state.size += layer.size

    def _summary(self, instruction: Instruction, env: dict[str, str]) -> str:
        """The instruction as history and the cache key record it (arguments expanded
        where Docker expands them; RUN as written, the shell expands it)."""
        cmd = instruction.cmd
        if cmd == "RUN" or instruction.json or cmd in ("CMD", "ENTRYPOINT", "SHELL", "HEALTHCHECK", "ONBUILD"):
            text = instruction.original.split(None, 1)[1] if " " in instruction.original.strip() else ""
            return f"{cmd} {text}".strip()
        words = [expand(arg, env, self.escape) for arg in instruction.args]
        flags = " ".join(f"--{k}={expand(v, env, self.escape)}" for k, v in instruction.flags)
        if cmd in ("ENV", "LABEL"):
            body = " ".join(f"{words[i]}={json.dumps(words[i + 1]) if cmd == 'LABEL' else words[i + 1]}"
                            for i in range(0, len(words) - 1, 2))
        else:
            body = " ".join(words)
        return " ".join(part for part in (cmd, flags, body) if part)

    # -- ARG ------------------------------------------------------------------------------
    def _arg_pairs(self, instruction: Instruction, env: dict[str, str]):
        for word in instruction.args:
            name, sep, default = word.partition("=")
            if not name or not all(c.isalnum() or c == "_" for c in name):
                raise SyntaxProblem(f"{self.filename}:{instruction.line}: ARG names can only contain "
                                    f"letters, digits and underscores: {name!r}")
            yield name, expand(default, env, self.escape) if sep else None

    # -- the image config -----------------------------------------------------------------
    def _shell_form(self, instruction: Instruction, config: dict) -> list[str]:
        if instruction.json:
            return list(instruction.args)
        return [*(config.get("Shell") or DEFAULT_SHELL), " ".join(instruction.args)]

    def _config(self, instruction: Instruction, state: State, env: dict[str, str]) -> None:
        cmd, config = instruction.cmd, state.config
        words = lambda: [expand(arg, env, self.escape) for arg in instruction.args]  # noqa: E731
        if cmd == "ENV":
            pairs = words()
            current = dict(_env_dict(config))
            for i in range(0, len(pairs) - 1, 2):
                current[pairs[i]] = pairs[i + 1]
                env[pairs[i]] = pairs[i + 1]
            config["Env"] = [f"{k}={v}" for k, v in current.items()]
        elif cmd == "LABEL":
            pairs = words()
            config["Labels"] = {**(config.get("Labels") or {}),
                                **{pairs[i]: pairs[i + 1] for i in range(0, len(pairs) - 1, 2)}}
        elif cmd == "CMD":
            config["Cmd"] = self._shell_form(instruction, config)
        elif cmd == "ENTRYPOINT":
            config["Entrypoint"] = self._shell_form(instruction, config)
            if not self._stage.cmd_set:
                config["Cmd"] = None
        elif cmd == "WORKDIR":
            path = expand(" ".join(instruction.args), env, self.escape)
            config["WorkingDir"] = posixpath.normpath(posixpath.join("/", config.get("WorkingDir") or "/", path))
        elif cmd == "USER":
            config["User"] = expand(" ".join(instruction.args), env, self.escape)
        elif cmd == "EXPOSE":
            ports = [w for arg in instruction.args for w in expand_words(arg, env, self.escape)]
            config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}), **{p: {} for p in _exposed(ports)}}
        elif cmd == "VOLUME":
            paths = list(instruction.args) if instruction.json else \
                [w for arg in instruction.args for w in expand_words(arg, env, self.escape)]
            if not all(paths):
                raise InvalidArgument("VOLUME specified can not be an empty string")
            config["Volumes"] = {**(config.get("Volumes") or {}), **{p: {} for p in paths}}
        elif cmd == "STOPSIGNAL":
            from ..formats.signals import parse_signal

            value = expand(instruction.args[0], env, self.escape)
            parse_signal(value)
            config["StopSignal"] = value
        elif cmd == "SHELL":
            config["Shell"] = list(instruction.args)
        elif cmd == "HEALTHCHECK":
            config["Healthcheck"] = self._healthcheck(instruction, config)
        elif cmd == "ONBUILD":
            config["OnBuild"] = [*(config.get("OnBuild") or []), instruction.original.split(None, 1)[1]]
        elif cmd == "MAINTAINER":
            state.platform = {**state.platform, "author": " ".join(words())}

    def _healthcheck(self, instruction: Instruction, config: dict) -> dict:
        from ..formats.timestamps import parse_duration_ns

        kind = instruction.args[0].upper()
        if kind == "NONE":
            return {"Test": ["NONE"]}
        if kind != "CMD":
            raise InvalidArgument(f"unknown type {instruction.args[0]!r} in HEALTHCHECK (try CMD)")
        rest = Instruction("CMD", instruction.args[1:], json=instruction.json)
        if instruction.json:
            test = ["CMD", *rest.args]
        else:
            test = ["CMD-SHELL", " ".join(rest.args)]
        check: dict = {"Test": test}
        for flag, field in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                            ("start-interval", "StartInterval")):
            value = instruction.flag(flag)
            if value:
                try:
                    check[field] = parse_duration_ns(value)
                except ValueError:
                    raise InvalidArgument(f"HEALTHCHECK --{flag}: invalid duration {value!r}") from None
        retries = instruction.flag("retries")
        if retries:
            if not retries.isdigit() or int(retries) < 1:
                raise InvalidArgument("--retries must be at least 1")
            check["Retries"] = int(retries)
        return check

    # -- RUN ------------------------------------------------------------------------------
    def _register(self, state: State) -> str:
        """The state as an image a container can be created from (dropped after the build)."""
        from ..storage.image_archive import config_record

        document = state.document()
        record = config_record(document, [], state.size)
        try:
            self.runtime.store.image(record.id)
        except NoSuchImage:
            self.runtime.store.put_image(record)
            self.intermediates.append(record.id)
        return record.id

    def _drop_intermediates(self) -> None:
        keep = {state.image_id() for state in self.stage_results.values()}
        for image_id in self.intermediates:
            if image_id in keep:
                continue
            try:
                record = self.runtime.store.image(image_id)
            except NoSuchImage:
                continue
            if not record.names and not any(c.config.image_id == image_id for c in self.runtime.containers()):
                self.runtime.store.remove_image(record)

    def _run_argv(self, instruction: Instruction, config: dict) -> list[str]:
        if instruction.json:
            return list(instruction.args)
        shell = config.get("Shell") or DEFAULT_SHELL
        text = instruction.args[0] if instruction.args else ""
        if instruction.heredocs:
            doc = instruction.heredocs[0]
            if text.strip() in (f"<<{doc.name}", f"<<-{doc.name}", f"<<'{doc.name}'", f'<<"{doc.name}"'):
                return [*shell, doc.content]
            text = instruction.original.split(None, 1)[1]
        return [*shell, text]

    def _run(self, instruction: Instruction, state: State, run_mounts):
        from ..storage.commit import commit_layer

        argv = self._run_argv(instruction, state.config)
        image_id = self._register(state)
        own_env = _env_dict(state.config)
        build_env = [f"{k}={v}" for k, v in self._stage.args.items() if k not in own_env]
        network = instruction.flag("network") or self.options.network
        container = self.runtime.create_container(
            image_id, argv, entrypoint=[], env=build_env, network=network,
            name=f"husk-build-{os.urandom(6).hex()}", labels={"io.husk.build": "true"}, mounts=run_mounts.mounts)
        watcher = self._kill_when_cancelled(container)
        try:
            client = container.start_and_attach()
            with client:
                for _stream, data in client:
                    self._check_cancelled()
                    if not self.options.quiet:
                        self.out.raw(data)
            self._check_cancelled()
            code = container.wait()
            if code != 0:
                raise StepFailed(f'building at STEP "{instruction.original.splitlines()[0]}": '
                                 f"while running runtime: exit status {code}", exit_code=code or 125)
            return commit_layer(self.runtime, container.id, mount_targets=run_mounts.targets)
        finally:
            watcher.set()
            container.remove(force=True, timeout=0, volumes=True)

    def _kill_when_cancelled(self, container) -> threading.Event:
        """A thread that kills the RUN container if the build is cancelled while it runs
        (the output loop blocks until the container writes or exits); set the returned event when done.
        It kills through a handle of its own, as one handle's state is not to be shared between threads:
        the step's thread removes the container meanwhile."""
        done = threading.Event()
        cancelled = self.cancel

        def watch() -> None:
            while not done.is_set():
                if cancelled.wait(0.5):
                    if not done.is_set():
                        try:
                            self.runtime.container(container.id).kill(9)
                        except HuskError:
                            pass  # not running any more, or removed
                    return

        threading.Thread(target=watch, daemon=True).start()
        return done

    # -- COPY, ADD, WORKDIR's directory -----------------------------------------------------
    def source_layers(self, origin: str, stages: list[Stage]) -> tuple[list[str], str]:
        """(the layers, a cache key) of what `--from=` names: a built stage (name or index) or an image."""
        stage = self._stage_ref(stages, origin, len(stages))
        state = self.stage_results.get(stage.index) if stage else None
        if state is not None:
            return state.layers, state.key
        from ..storage.images import resolve_image

        image = resolve_image(self.runtime, origin)
        return list(image.layers), image.id

    def _sources(self, instruction: Instruction, env: dict[str, str], stages: list[Stage]):
        """(the sources, the root they come from) of a COPY or ADD."""
        from . import files

        words = list(instruction.args) if instruction.json else [expand(a, env, self.escape) for a in instruction.args]
        if instruction.heredocs:
            docs = {doc.name: doc for doc in instruction.heredocs}
            sources = [files.heredoc_source(name, docs[name].content) for name in
                       (w.lstrip("<-").strip("'\"") for w in words[:-1])]
            return sources, words[-1], None
        *names, dest = words
        origin = instruction.flag("from")
        if origin:
            layers, _key = self.source_layers(expand(origin, env, self.escape), stages)
            mount = Mounted(self.runtime, layers)
            root = mount.__enter__()
            try:
                sources = [s for name in names for s in files.gather(root, name, [], keep_owner=True)]
            except BaseException:
                mount.__exit__(None, None, None)
                raise
            return sources, dest, mount
        urls = [name for name in names if instruction.cmd == "ADD" and "://" in name]
        downloads = None
        if urls:
            from .download import Downloads

            downloads = Downloads(os.path.join(self.runtime.paths.root, "build-tmp"))
        try:
            sources = []
            for name in names:
                if name in urls:
                    sources += files.gather(downloads.root, downloads.fetch(name), [])
                else:
                    sources += files.gather(self.context.root, name, self.context.patterns,
                                            archives=instruction.cmd == "ADD")
        except BaseException:
            if downloads is not None:
                downloads.close()
            raise
        return sources, dest, downloads

    def _owner(self, instruction: Instruction, env: dict[str, str], rootfs: str) -> tuple[int, int] | None:
        chown = instruction.flag("chown")
        if not chown:
            return None
        from ..engine.users import resolve_user

        user = resolve_user(rootfs, expand(chown, env, self.escape))
        return user.uid, user.gid

    def _copy(self, instruction: Instruction, state: State, env: dict[str, str], sources, dest, _source_mount):
        from . import files

        chmod = instruction.flag("chmod")
        mode = None
        if chmod:
            try:
                mode = int(chmod, 8)
            except ValueError:
                raise InvalidArgument(f"invalid chmod {chmod!r}: an octal mode") from None
        workdir = state.config.get("WorkingDir") or "/"
        target = posixpath.join(workdir, dest)
        if dest.endswith("/") or dest in (".", "./"):
            target = target.rstrip("/") + "/"
        with Mounted(self.runtime, state.layers) as rootfs:
            placement = files.Placement(target, self._owner(instruction, env, rootfs), mode)
            return files.write_layer(self.runtime, rootfs, sources, placement)

    def _workdir_layer(self, state: State, workdir: str):
        """A layer making WORKDIR's directory when the image lacks it (Docker makes it)."""
        from . import files

        with Mounted(self.runtime, state.layers) as rootfs:
            real = files._resolve(rootfs, workdir)
            if not real or files._is_dir(rootfs, real):
                return None
            entry = files.Entry("", "dir", 0o755, mtime=time.time())
            return files.write_layer(self.runtime, rootfs, [files.Source("", "", True, [entry])],
                                     files.Placement(workdir))

    def _squashed(self, state: State, index: int) -> State:
        """The target's new layers as one (`--squash`, and `--layers=false` as buildah
        commits once), or the whole image as one (`--squash-all`); history entries
        stay, all but the last marked empty."""
        from ..storage.commit import squash_layers

        squash_all = self.options.squash_all
        if not (squash_all or self.options.squash or not self.options.layers):
            return state
        layer_count, history_count = (0, 0) if squash_all else self.stage_bases[index]
        base, new = state.layers[:layer_count], state.layers[layer_count:]
        if len(new) < 2:
            return state
        self._check_cancelled()
        layer = squash_layers(self.runtime, base, new)
        history = [dict(entry, empty_layer=True) for entry in state.history[history_count:]]
        history[-1].pop("empty_layer")
        return dataclasses.replace(state, layers=[*base, layer.digest], history=state.history[:history_count] + history,
                                   size=sum(self._layer_size(layer_id) for layer_id in base) + layer.size)

    def _layer_size(self, layer_id: str) -> int:
        from ..storage.layer_store import ARCHIVE_NAME

        try:
            return os.path.getsize(os.path.join(self.runtime.paths.layer_dir(layer_id), ARCHIVE_NAME))
        except OSError:
            return 0

    # -- the end --------------------------------------------------------------------------
    def _commit(self, state: State) -> str:
        from ..storage.image_archive import config_record
        from ..storage.images import normalize

        names = [normalize(tag) for tag in self.options.tags]
        if self.options.labels:
            state.config = {**state.config, "Labels": {**(state.config.get("Labels") or {}), **self.options.labels}}
        if self.options.tags:
            self._say(f"COMMIT {self.options.tags[0]}")
        else:
            self._say("COMMIT")
        document = state.document()
        record = config_record(document, [], state.size)
        store = self.runtime.store
        try:
            existing = store.image(record.id)
        except NoSuchImage:
            existing = None
        record.names = list(dict.fromkeys([*(existing.names if existing else []), *names]))
        record.annotations = {**(existing.annotations if existing else {}), **self.options.annotations}
        store.put_image(record)  # a name another image holds moves to this one
        if record.id in self.intermediates:
            self.intermediates.remove(record.id)
        self._say(f"--> {record.id[:11]}")
        for name in names:
            self._say(f"Successfully tagged {name}")
        self.runtime.emit("build", id=record.id, name=names[0] if names else "", image=record.id, type="image")
        return record.id
