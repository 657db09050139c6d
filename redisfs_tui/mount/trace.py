"""Error mapping and ``--debug`` call tracing around every FUSE operation.

Any failure becomes an errno: FsError keeps its own, anything unexpected is logged
with its traceback and answered with EIO (mfusepy would say EINVAL).  Redis
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

from ..core import FsError

log = logging.getLogger("redisfs.fuse")

FUSE_OPERATIONS = (
    "getattr", "readlink", "mknod", "mkdir", "unlink", "rmdir", "symlink", "rename", "link",
    "chmod", "chown", "truncate", "open", "read", "write", "statfs", "flush", "release",
    "fsync", "setxattr", "getxattr", "listxattr", "removexattr", "opendir", "readdir",
    "releasedir", "fsyncdir", "destroy", "access", "create", "utimens", "ioctl", "fallocate",
    "readdir_page",
)
OUTAGE_LOG_INTERVAL = 5.0


_pinned: set[int] = set()


def _keep_thread_state() -> None:
    """Give this libfuse worker thread one Python thread state for good.

    ctypes creates a thread state when a callback enters on a thread Python did not
    start and deletes it on return, so ``threading.local`` data (core keeps its zstd
    contexts there) would be rebuilt on every FUSE request.  One extra PyGILState
    reference keeps the state for the thread's lifetime; libfuse joins its workers
    before the interpreter shuts down.
    """
    ident = threading.get_ident()
    if ident not in _pinned:
        ctypes.pythonapi.PyGILState_Ensure()
        _pinned.add(ident)


def _short(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, list) and len(value) > 8:
        return f"[{len(value)} items]"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


class _OutageLog:
    """Rate-limits the 'Redis unavailable' warnings during an outage."""

    def __init__(self) -> None:
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
        log.warning("%s failed: %s%s", name, exc.strerror or exc, more)


def _wrap(name: str, method: Callable[..., Any], debug: bool,
          outages: _OutageLog) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any) -> Any:
        _keep_thread_state()
        if debug:
            log.debug("-> %s(%s)", name, ", ".join(_short(a) for a in args))
            started = time.perf_counter()
        try:
            result = method(*args)
        except OSError as exc:
            code = exc.errno if isinstance(exc.errno, int) and exc.errno > 0 else errno.EIO
            if debug:
                log.debug("<- %s: %s (%.0f µs)", name, errno.errorcode.get(code, code),
                          (time.perf_counter() - started) * 1e6)
            if code == errno.EIO:
                outages.warn(name, exc)
            if code != exc.errno:
                raise FsError(code) from exc
            raise
        except Exception as exc:
            log.exception("%s(%s) failed unexpectedly", name, ", ".join(_short(a) for a in args))
            raise FsError(errno.EIO) from exc
        if debug:
            log.debug("<- %s = %s (%.0f µs)", name, _short(result),
                      (time.perf_counter() - started) * 1e6)
        return result

    return call


def instrument(operations: object, debug: bool) -> None:
    """Replace each implemented FUSE operation of ``operations`` by a wrapped one."""
    outages = _OutageLog()
    for name in FUSE_OPERATIONS:
        method = getattr(operations, name, None)
        if method is None or getattr(method, "libfuse_ignore", False):
            continue
        setattr(operations, name, _wrap(name, method, debug, outages))
