"""Answer rename(x, x) before libfuse's high-level layer locks itself out.

libfuse 3.14's high-level API write-locks both names of a rename in its path tree.
When the kernel sends a rename whose old and new names are the same entry (it does
when another mount replaced or removed the name between the kernel's two lookups:
the source dentry is the old, now stale one, the target the fresh one), the second
lock waits for the first, held by the same request: the request is never answered,
the directory's i_rwsem stays taken and every process touching that directory hangs
(seen with two mounts renaming in one shared directory; libfuse fuse.c get_path2).

By name such a rename changes nothing, so it is answered with success right away,
in front of libfuse: the session's low-level ``rename`` entry is replaced by one that
handles that case and passes every other rename on.  struct fuse_session is private
to libfuse, so the entry is found by the layout of the versions checked here and
the surroundings are verified first; anywhere else the guard stays off (logged).
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Any

log = logging.getLogger("redisfs.mount")

# struct fuse_session (lib/fuse_i.h): mountpoint, exited, fd, io, mo, debug,
# deny_others, then struct fuse_lowlevel_ops op -- for these libfuse versions
OPS_OFFSET = {(3, 14): 40}
FD_OFFSET = 12
RENAME_INDEX = 12  # init, destroy, lookup, forget, getattr, setattr, readlink, mknod,
#                    mkdir, unlink, rmdir, symlink, rename (include/fuse_lowlevel.h)
CHECKED_ENTRIES = 14  # init .. link: all set by the high-level layer
LIBRARY_SPAN = 4 << 20  # every entry points into libfuse's own code

RENAME_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p,
                               ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint)


class RenameGuard:
    """Installed once per mount from FUSE init (before any rename can arrive)."""

    def __init__(self, libfuse: Any, version: tuple[int, int]) -> None:
        self.lib = libfuse
        self.version = version
        self.installed = False
        self.answered = 0  # renames of a name onto itself answered here
        self._original: Any = None
        self._callback: Any = None  # kept alive as long as libfuse may call it

    def install(self, fuse_ptr: int, mountpoint: str) -> bool:
        offset = OPS_OFFSET.get(self.version)
        if offset is None or not fuse_ptr:
            log.debug("rename guard: libfuse %d.%d not known here", *self.version)
            return False
        lib = self.lib
        lib.fuse_get_session.restype = ctypes.c_void_p
        lib.fuse_get_session.argtypes = [ctypes.c_void_p]
        lib.fuse_session_fd.restype = ctypes.c_int
        lib.fuse_session_fd.argtypes = [ctypes.c_void_p]
        lib.fuse_reply_err.restype = ctypes.c_int
        lib.fuse_reply_err.argtypes = [ctypes.c_void_p, ctypes.c_int]
        session = lib.fuse_get_session(fuse_ptr)
        if not session or not self._layout_ok(session, offset, mountpoint):
            log.warning("rename guard not installed: libfuse's session does not look as "
                        "expected (a rename of a name onto itself may hang the mount)")
            return False
        slot = ctypes.c_void_p.from_address(session + offset + RENAME_INDEX * 8)
        self._original = RENAME_FUNC(slot.value)
        self._callback = RENAME_FUNC(self._rename)
        slot.value = ctypes.cast(self._callback, ctypes.c_void_p).value
        self.installed = True
        return True

    def _layout_ok(self, session: int, offset: int, mountpoint: str) -> bool:
        """The fd and mountpoint fields hold what libfuse's own accessors say, and the
        operation table holds pointers into libfuse's code."""
        if ctypes.c_int.from_address(session + FD_OFFSET).value != \
                self.lib.fuse_session_fd(session):
            return False
        # (compared as given: resolving the path would stat the mount from inside its
        # own init, which waits for itself)
        if ctypes.c_char_p.from_address(session).value != os.fsencode(mountpoint):
            return False
        anchor = ctypes.cast(self.lib.fuse_reply_err, ctypes.c_void_p).value or 0
        for index in range(CHECKED_ENTRIES):
            entry = ctypes.c_void_p.from_address(session + offset + index * 8).value
            if not entry or abs(entry - anchor) > LIBRARY_SPAN:
                return False
        return True

    def _rename(self, req: int, parent: int, name: int, new_parent: int, new_name: int,
                flags: int) -> None:
        try:
            same = parent == new_parent and ctypes.string_at(name) == ctypes.string_at(new_name)
        except Exception:  # a request must always be answered
            same = False
        if same:
            self.answered += 1
            self.lib.fuse_reply_err(req, 0)
            return
        self._original(req, parent, name, new_parent, new_name, flags)
