"""What every part of the monitor shares: the attach protocol's numbers, calls
into the C library, and starting a child.  A leaf: the package and its lazily
loaded parts import it, it imports nothing of theirs."""

import _signal as signal
import posix as os
import sys

# The attach protocol, mirrored from husk/engine/attach_protocol.py because the monitor
# cannot import the husk package; tests/unit/test_attach_protocol.py checks they agree.
STREAM_STDOUT = 1
STREAM_STDERR = 2
MSG_STDIN = 0
MSG_CLOSE_STDIN = 1
MSG_RESIZE = 2
MSG_PACE = 3
MSG_CLEANUP = 4
MSG_SYNC = 5
#: the monitor's answer to MSG_SYNC: a packet of no stream
SYNC_REPLY = b"\x00"
MAX_DATA = 32768

# Linux's numbers for the libc calls made through _ctypes (see libc)
AF_UNIX = 1
SOCK_STREAM = 1
SOCK_SEQPACKET = 5
SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000
SHUT_WR = 1
ENAMETOOLONG = 36
SOCKADDR_MAX = 107
PR_SET_CHILD_SUBREAPER = 36
CHILD_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD)
DEVNULL = "/dev/null"


def spawn(argv: list, stdin: int, stdout: int, stderr: int) -> int:
    """Start a child with the given stdio and default signal dispositions
    (the monitor's own handlers and ignores must not leak into containers)."""
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, stderr, 2)]
    return os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions,
                           setsigdef=CHILD_DEFAULT_SIGNALS, setsigmask=())


#: the libc function type and libc's handle, made on the first call
_LIBC: list = []


def libc_function(name: str):
    """The C library's ``name``, looked up now, as a callable (int, bytes and
    None arguments) returning its int result.  Through ``_ctypes`` alone: the
    ``ctypes`` package costs about 0.45 MiB more PSS per monitor (measured)."""
    import _ctypes

    if not _LIBC:
        class Function(_ctypes.CFuncPtr):  # no _restype_: a C int, ctypes' default
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO

        class Libc:
            _handle = _ctypes.dlopen(None)

        _LIBC[:] = [Function, Libc()]
    function, handle = _LIBC
    return function((name, handle))


def libc(name: str, *args) -> int:
    """Call the C library's ``name`` (see libc_function); -1 raises OSError with its errno."""
    import _ctypes

    result = libc_function(name)(*args)
    if result == -1:
        errno = _ctypes.get_errno()
        raise OSError(errno, "%s: %s" % (name, os.strerror(errno)))
    return result


def become_subreaper() -> None:
    """Orphans of our subtree (the container init, once ``create`` exits) become
    our children.  For a container's monitor, husk's launcher sets it in the
    monitor's process before the interpreter starts (the setting survives
    execve, husk.engine.monitor_client), so that the monitor never loads
    ``_ctypes``; any other monitor calls this itself (see husk.monitor.main)."""
    libc("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def accept(listener: int) -> int:
    """A connection's (close-on-exec) descriptor accepted on ``listener``
    (``BlockingIOError``: none waiting).  Through ``_socket``, which serving
    the connection loads anyway (.clients, .console), not ``_ctypes``: a
    container's monitor whose launcher made its socket loads neither until a
    client is really there."""
    import _socket

    sock = _socket.socket(fileno=listener)
    try:
        return sock._accept()[0]
    finally:
        sock.detach()


def unix_address(path: str, holder: list) -> str:
    """An AF_UNIX address for ``path`` even past the 107-byte limit: long paths
    go through ``/proc/<pid>/fd/<dirfd>``; the dir fd is appended to ``holder``
    and must stay open until bind/connect is done."""
    if len(path.encode(errors="surrogateescape")) <= SOCKADDR_MAX:
        return path
    directory, _, name = path.rpartition("/")
    dirfd = os.open(directory or ("/" if path.startswith("/") else "."), os.O_PATH | os.O_CLOEXEC)
    holder.append(dirfd)
    return "/proc/%d/fd/%d/%s" % (os.getpid(), dirfd, name)


def listen_unix(path: str, kind: int, mode: int = 0o600, backlog: int = 16) -> tuple:
    """A listening, non-blocking AF_UNIX socket at ``path`` with ``mode``
    (set through the umask, so no other user can connect before a chmod).
    The API service binds its socket here too: one way to bind, long paths included.
    Made by libc's calls, not ``_socket``: a detached container's monitor that
    nobody attaches to then never imports it (0.08 MiB of PSS each, measured).

    Returns (its descriptor, the address used, dir fds to close once the address is no longer needed)."""
    holder: list = []
    try:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        address = unix_address(path, holder)
        encoded = address.encode(errors="surrogateescape")
        if len(encoded) > 108:  # sun_path holds 108 bytes: a longer one would bind a socket of another name
            raise OSError(ENAMETOOLONG, "AF_UNIX path too long: %s" % path)
        # struct sockaddr_un by hand: _struct would cost every monitor ~0.01 MiB of PSS (measured)
        sockaddr = AF_UNIX.to_bytes(2, sys.byteorder) + encoded.ljust(108, b"\0")
        fd = libc("socket", AF_UNIX, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
        holder.append(fd)  # closed with the dir fds on failure
        old_umask = os.umask(0o777 & ~mode)
        try:
            libc("bind", fd, sockaddr, len(sockaddr))
        finally:
            os.umask(old_umask)
        libc("listen", fd, backlog)
        holder.remove(fd)
        return fd, address, holder
    except BaseException:
        for fd in holder:
            os.close(fd)
        raise
