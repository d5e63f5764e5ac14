"""Why the runtime's ``create`` failed, in its own words: loaded only when it did."""

def oci_log_error(path: str, offset: int) -> str:
    """The last error message the runtime wrote to its JSON log after ``offset``
    (a failure path: json is imported only here)."""
    import json

    try:
        with open(path, "rb") as log:
            log.seek(offset)
            lines = log.read().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal") and entry.get("msg"):
            return str(entry["msg"])
    return ""


def last_output_line(output: bytes) -> str:
    """The last non-empty line the runtime printed, without logrus decoration."""
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    if 'msg="' in line:
        line = line.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return line
