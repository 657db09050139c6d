"""Error mapping (for requests.Requests) and ``--debug`` call tracing.

Any failure becomes an errno: FsError keeps its own, anything unexpected is logged
with its traceback and answered with EIO.  Redis
outages are logged as warnings, at most one line every few seconds.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("redisfs.fuse")

FUSE_OPERATIONS = (
    "lookup", "getattr", "setattr", "readlink", "mknod", "mkdir", "unlink", "rmdir",
    "symlink", "rename", "link", "open", "read", "write", "statfs", "flush", "release",
    "fsync", "setxattr", "getxattr", "listxattr", "removexattr", "opendir", "readdir",
    "releasedir", "destroy", "create", "fallocate",
)
OUTAGE_LOG_INTERVAL = 5.0


_pinned = threading.local()


def keep_thread_state() -> None:
    """Give this libfuse worker thread one Python thread state for good.

    ctypes creates a thread state when a callback enters on a thread Python did not
    start and deletes it on return, so ``threading.local`` data (core keeps its zstd
    contexts there) would be rebuilt on every FUSE request.  One extra PyGILState
    reference keeps the state for the thread's lifetime (and spares building and
    destroying a thread state on every request: ~10 µs each here).  libfuse joins its
    workers before the interpreter shuts down, and with as many idle threads allowed
    as workers (lowlevel.Session.run) no worker ever exits early, so no pinned state
    is orphaned.  A ``threading.local`` flag (not the thread id, which a new thread
    may reuse) tells whether this thread state is the pinned one.
    """
    if not getattr(_pinned, "done", False):
        ctypes.pythonapi.PyGILState_Ensure()
        _pinned.done = True


def _short(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, list) and len(value) > 8:
        return f"[{len(value)} items]"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


class _RateLimitedLog:
    """Rate-limits a kind of warning that can come with every request (an outage, a
    damaged filesystem), so the log says it once a while with a count."""

    def __init__(self, hint: str = "") -> None:
        self.hint = hint
        self._last = 0.0
        self._suppressed = 0
        self._mutex = threading.Lock()

    def warn(self, name: str, exc: OSError) -> None:
        with self._mutex:
            now = time.monotonic()
            if now - self._last < OUTAGE_LOG_INTERVAL:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        more = f" ({suppressed} more since the last message)" if suppressed else ""
        log.warning("%s failed: %s%s%s", name, exc.strerror or exc, more, self.hint)


_outages = _RateLimitedLog()
_damage = _RateLimitedLog("; check the filesystem with fsck (redisfs-ui, view 5)")


def errno_of(exc: BaseException) -> int:
    if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
        return exc.errno
    return errno.EIO


def failure(name: str, exc: Exception) -> int:
    """The errno to answer for an operation that raised ``exc``: non-OSErrors are
    logged with their traceback and become EIO; EIO and EUCLEAN are reported
    (rate-limited)."""
    code = errno_of(exc)
    if not isinstance(exc, OSError):
        log.error("%s failed unexpectedly", name, exc_info=exc)
    elif code == errno.EIO:
        _outages.warn(name, exc)
    elif code == errno.EUCLEAN:
        _damage.warn(name, exc)
    return code


def _traced(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """--debug: log every call, its result or errno, and its duration."""
    @functools.wraps(method)
    def call(*args: Any) -> Any:
        log.debug("-> %s(%s)", name, ", ".join(_short(a) for a in args))
        started = time.perf_counter()
        try:
            result = method(*args)
        except Exception as exc:
            code = errno_of(exc)
            log.debug("<- %s: %s (%.0f µs)", name, errno.errorcode.get(code, code),
                      (time.perf_counter() - started) * 1e6)
            raise  # requests.Requests maps and reports it
        log.debug("<- %s = %s (%.0f µs)", name, _short(result),
                  (time.perf_counter() - started) * 1e6)
        return result

    return call


def instrument(operations: object, debug: bool) -> None:
    """With --debug, replace each implemented FUSE operation by a traced one.

    Without it nothing is wrapped: error mapping happens once per request in
    requests.Requests (every extra Python frame costs on each request)."""
    if not debug:
        return
    for name in FUSE_OPERATIONS:
        method = getattr(operations, name, None)
        if method is None:
            continue
        setattr(operations, name, _traced(name, method))
