"""schemathesis hooks for test_api_fuzz.py (loaded with SCHEMATHESIS_HOOKS=fuzz_hooks).

- Tar bodies (image load, import, archive upload, restore) are sent as the
  fuzzer draws them: bytes, or text encoded.
- The check `no_undocumented_server_error`: every operation documents a 500
  for the engine's own failures (a runtime refusing a configuration, a full
  disk), as Docker's does; a 5xx other than 500, or a 500 that is husk's
  "internal error" (a bug: the service logged a traceback), is a failure.
- libpod's operations are sent under /v4.3.1 (openapi.json's libpod paths
  are served only under a /vN.N.N prefix, as podman's are; its servers say
  `/`, so without this every libpod case was a 404 "page not found").
- Container creates name the installation's image (the fuzzer's own image
  names never exist), so that a created container's links (openapi.json:
  inspect, start, stop, wait, exec, delete) have an id to follow in the
  stateful phase; bodies with what could reach the host from a container
  that runs (mounts, devices, privileges, host namespaces) are left as drawn.
- Every response is counted, by status, and every failure is written, in
  the files HUSK_FUZZ_LOG names (one line each), so the test can say how many
  cases ran and assert on what went wrong without parsing the tool's output.
"""

from __future__ import annotations

import json
import os
import threading

import schemathesis

_LOCK = threading.Lock()
LOG = os.environ.get("HUSK_FUZZ_LOG", "fuzz")
#: the libpod API version the libpod paths are sent under
LIBPOD_PREFIX = "/v4.3.1"


def _append(suffix: str, line: str) -> None:
    with _LOCK, open(f"{LOG}.{suffix}", "a") as out:
        out.write(line + "\n")


@schemathesis.serializer("application/x-tar")
def _tar(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value if value is not None else "").encode(errors="surrogatepass")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.path.startswith("/libpod/"):
        case.path = LIBPOD_PREFIX + case.path


#: create-body fields that could reach the host once the container runs (Docker's, libpod's)
_HOST_REACHING = {"HostConfig", "mounts", "privileged", "cap_add", "netns", "userns", "idmappings", "oci_runtime"}


@schemathesis.hook.apply_to(method="POST", path_regex=r"^(/libpod)?/containers/create$")
def map_body(ctx, body):
    if isinstance(body, dict) and not _HOST_REACHING & body.keys():
        body["image" if ctx.operation.path.startswith("/libpod") else "Image"] = "busybox"
    return body


@schemathesis.hook
def after_call(ctx, case, response):
    _append("statuses", f"{case.operation.method.upper()} {case.operation.path} {response.status_code}")


@schemathesis.check
def no_undocumented_server_error(ctx, response, case):
    status = response.status_code
    if status < 500:
        return None
    try:
        message = str(json.loads(response.content).get("message", ""))
    except (ValueError, AttributeError):
        message = response.content[:200].decode(errors="replace")
    if status != 500 or message.startswith("internal error"):
        _append("failures", json.dumps({"operation": f"{case.operation.method.upper()} {case.operation.path}",
                                        "status": status, "message": message[:500],
                                        "curl": case.as_curl_command()[:2000]}))
        raise AssertionError(f"{status}: {message}")
    return None
