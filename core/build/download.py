"""ADD of a URL: the file fetched (http or https) into a private temporary
directory, as Docker does: not unpacked, mode 0600, its mtime the answer's
Last-Modified; its content's sha256 is part of the step's cache key, so it
is fetched on every build and the cache holds while it does not change."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import urllib.parse

from ..define import InvalidArgument

#: how long a fetch may stall (seconds)
TIMEOUT = 60


class Downloads:
    """The temporary directory the URLs of one ADD land in; removed by close()."""

    def __init__(self, scratch: str) -> None:
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        self.root = tempfile.mkdtemp(dir=scratch)

    def fetch(self, url: str) -> str:
        """Fetch `url` into the directory; returns the file's name there."""
        import email.utils
        import urllib.error
        import urllib.request

        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https"):
            raise InvalidArgument(f"ADD {url}: only http and https URLs are supported")
        name = posixpath.basename(parsed.path.rstrip("/")) or "index.html"
        if name in (".", ".."):
            name = "index.html"
        path = os.path.join(self.root, name)
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as answer, open(path, "wb") as out:
                shutil.copyfileobj(answer, out)
                modified = answer.headers.get("Last-Modified")
        except urllib.error.HTTPError as exc:
            raise InvalidArgument(f"ADD {url}: HTTP {exc.code} {exc.reason}") from None
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"ADD {url}: {getattr(exc, 'reason', None) or exc}") from None
        os.chmod(path, 0o600)
        if modified:
            try:
                stamp = email.utils.parsedate_to_datetime(modified).timestamp()
                os.utime(path, (stamp, stamp))
            except (TypeError, ValueError):
                pass
        return name

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(self, *exc_info) -> None:
        self.close()
