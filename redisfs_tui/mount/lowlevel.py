"""libfuse 3's low-level (inode-based) API through ctypes: the session's life.

Why not mfusepy's high-level (path) API, which the daemon used first: it gives
every *path* its own kernel inode, so the names of a hard-linked file are separate
kernel inodes whose caches only meet through invalidations (stale reads and sizes
through the other name, and deadlocks when those invalidations are waited for), and
libfuse's path locks hang on the ``rename(x, x)`` the kernel sends when two mounts
race (docs/fuse.md).  Here the kernel's inode numbers are redisfs inode numbers.

mfusepy still finds the library and supplies the struct layouts of the installed
version (stat, statvfs, fuse_file_info, fuse_conn_info); the request callbacks are
in requests.py.  Verified with libfuse 3.14 (Debian 12); needs libfuse >= 3.12.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import signal
import threading
from ctypes import POINTER, c_char_p, c_int, c_int64, c_size_t, c_uint, c_uint32, c_uint64
from ctypes import c_void_p as req_t
from typing import Any

if not os.environ.get("FUSE_LIBRARY_PATH") and not os.environ.get("FUSE_LIBRARY_NAME"):
    os.environ["FUSE_LIBRARY_NAME"] = "fuse3"  # mfusepy picks its library on import

import mfusepy

from .refill import RefillGuard

log = logging.getLogger("redisfs.fuse")
RANGE_WAIT = 0.05  # seconds a WRITE waits for its range to be dropped again (refill.py)

c_stat = mfusepy.c_stat
c_statvfs = mfusepy.c_statvfs
fuse_file_info = mfusepy.fuse_file_info
fuse_conn_info = mfusepy.fuse_conn_info
STAT_SIZE = ctypes.sizeof(c_stat)
VERSION = (mfusepy.fuse_version_major, mfusepy.fuse_version_minor)


class fuse_entry_param(ctypes.Structure):
    _fields_ = [("ino", ctypes.c_uint64), ("generation", ctypes.c_uint64), ("attr", c_stat),
                ("attr_timeout", ctypes.c_double), ("entry_timeout", ctypes.c_double)]


class fuse_ctx(ctypes.Structure):
    _fields_ = [("uid", ctypes.c_uint32), ("gid", ctypes.c_uint32), ("pid", ctypes.c_int32),
                ("umask", ctypes.c_uint32)]


class fuse_args(ctypes.Structure):
    _fields_ = [("argc", ctypes.c_int), ("argv", ctypes.POINTER(ctypes.c_char_p)),
                ("allocated", ctypes.c_int)]


# struct fuse_lowlevel_ops, in order, up to readdirplus (libfuse copies what we pass)
OPERATIONS = (
    "init", "destroy", "lookup", "forget", "getattr", "setattr", "readlink", "mknod",
    "mkdir", "unlink", "rmdir", "symlink", "rename", "link", "open", "read", "write",
    "flush", "release", "fsync", "opendir", "readdir", "releasedir", "fsyncdir", "statfs",
    "setxattr", "getxattr", "listxattr", "removexattr", "access", "create", "getlk",
    "setlk", "bmap", "ioctl", "poll", "write_buf", "retrieve_reply", "forget_multi",
    "flock", "fallocate", "readdirplus",
)


class fuse_lowlevel_ops(ctypes.Structure):
    _fields_ = [(name, ctypes.c_void_p) for name in OPERATIONS]


def _load() -> ctypes.CDLL:
    """Our own handle on mfusepy's library: argtypes set here stay ours."""
    lib = ctypes.CDLL(mfusepy._libfuse_path or "libfuse3.so.3")
    req, ino, size, off = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_int64
    entry_p = ctypes.POINTER(fuse_entry_param)
    fi_p = ctypes.POINTER(fuse_file_info)
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "fuse_reply_err": (ctypes.c_int, [req, ctypes.c_int]),
        "fuse_reply_none": (None, [req]),
        "fuse_reply_entry": (ctypes.c_int, [req, entry_p]),
        "fuse_reply_create": (ctypes.c_int, [req, entry_p, fi_p]),
        "fuse_reply_attr": (ctypes.c_int, [req, ctypes.POINTER(c_stat), ctypes.c_double]),
        "fuse_reply_readlink": (ctypes.c_int, [req, ctypes.c_char_p]),
        "fuse_reply_open": (ctypes.c_int, [req, fi_p]),
        "fuse_reply_write": (ctypes.c_int, [req, size]),
        "fuse_reply_buf": (ctypes.c_int, [req, ctypes.c_void_p, size]),
        "fuse_reply_statfs": (ctypes.c_int, [req, ctypes.POINTER(c_statvfs)]),
        "fuse_reply_xattr": (ctypes.c_int, [req, size]),
        "fuse_add_direntry": (size, [req, ctypes.c_void_p, size, ctypes.c_char_p,
                                     ctypes.POINTER(c_stat), off]),
        "fuse_add_direntry_plus": (size, [req, ctypes.c_void_p, size, ctypes.c_char_p,
                                          entry_p, off]),
        "fuse_req_ctx": (ctypes.POINTER(fuse_ctx), [req]),
        "fuse_session_new": (ctypes.c_void_p, [ctypes.POINTER(fuse_args),
                                               ctypes.POINTER(fuse_lowlevel_ops), size,
                                               ctypes.c_void_p]),
        "fuse_session_mount": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
        "fuse_session_unmount": (None, [ctypes.c_void_p]),
        "fuse_session_destroy": (None, [ctypes.c_void_p]),
        "fuse_session_exit": (None, [ctypes.c_void_p]),
        "fuse_set_signal_handlers": (ctypes.c_int, [ctypes.c_void_p]),
        "fuse_remove_signal_handlers": (None, [ctypes.c_void_p]),
        "fuse_session_loop": (ctypes.c_int, [ctypes.c_void_p]),
        "fuse_session_loop_mt_312": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
        "fuse_loop_cfg_create": (ctypes.c_void_p, []),
        "fuse_loop_cfg_destroy": (None, [ctypes.c_void_p]),
        "fuse_loop_cfg_set_max_threads": (None, [ctypes.c_void_p, ctypes.c_uint]),
        "fuse_loop_cfg_set_idle_threads": (None, [ctypes.c_void_p, ctypes.c_uint]),
        "fuse_lowlevel_notify_inval_inode": (ctypes.c_int, [ctypes.c_void_p, ino, off, off]),
    }
    for name, (restype, argtypes) in signatures.items():
        func = getattr(lib, name, None)
        if func is None:  # libfuse older than 3.12: Session.run() says so
            MISSING.append(name)
            continue
        func.restype = restype
        func.argtypes = argtypes
    return lib


MISSING: list[str] = []  # functions this libfuse lacks
lib = _load()
# fuse_file_info pointers arrive as this type in callbacks
FileInfoPointer = ctypes.POINTER(fuse_file_info)


FUNC = ctypes.CFUNCTYPE
FI = FileInfoPointer
# the C type of each callback we implement (the others stay NULL: libfuse answers them)
PROTOTYPES = {
    "init": FUNC(None, req_t, POINTER(fuse_conn_info)),
    "destroy": FUNC(None, req_t),
    "lookup": FUNC(None, req_t, c_uint64, c_char_p),
    "getattr": FUNC(None, req_t, c_uint64, FI),
    "setattr": FUNC(None, req_t, c_uint64, POINTER(c_stat), c_int, FI),
    "readlink": FUNC(None, req_t, c_uint64),
    "mknod": FUNC(None, req_t, c_uint64, c_char_p, c_uint32, c_uint64),
    "mkdir": FUNC(None, req_t, c_uint64, c_char_p, c_uint32),
    "unlink": FUNC(None, req_t, c_uint64, c_char_p),
    "rmdir": FUNC(None, req_t, c_uint64, c_char_p),
    "symlink": FUNC(None, req_t, c_char_p, c_uint64, c_char_p),
    "rename": FUNC(None, req_t, c_uint64, c_char_p, c_uint64, c_char_p, c_uint),
    "link": FUNC(None, req_t, c_uint64, c_uint64, c_char_p),
    "open": FUNC(None, req_t, c_uint64, FI),
    "read": FUNC(None, req_t, c_uint64, c_size_t, c_int64, FI),
    "write": FUNC(None, req_t, c_uint64, req_t, c_size_t, c_int64, FI),
    "flush": FUNC(None, req_t, c_uint64, FI),
    "release": FUNC(None, req_t, c_uint64, FI),
    "fsync": FUNC(None, req_t, c_uint64, c_int, FI),
    "opendir": FUNC(None, req_t, c_uint64, FI),
    "readdir": FUNC(None, req_t, c_uint64, c_size_t, c_int64, FI),
    "releasedir": FUNC(None, req_t, c_uint64, FI),
    "fsyncdir": FUNC(None, req_t, c_uint64, c_int, FI),
    "statfs": FUNC(None, req_t, c_uint64),
    "setxattr": FUNC(None, req_t, c_uint64, c_char_p, req_t, c_size_t, c_int),
    "getxattr": FUNC(None, req_t, c_uint64, c_char_p, c_size_t),
    "listxattr": FUNC(None, req_t, c_uint64, c_size_t),
    "removexattr": FUNC(None, req_t, c_uint64, c_char_p),
    "create": FUNC(None, req_t, c_uint64, c_char_p, c_uint32, FI),
    "ioctl": FUNC(None, req_t, c_uint64, c_uint, req_t, FI, c_uint, req_t, c_size_t, c_size_t),
    "fallocate": FUNC(None, req_t, c_uint64, c_int, c_int64, c_int64, FI),
    "readdirplus": FUNC(None, req_t, c_uint64, c_size_t, c_int64, FI),
}


def fill_stat(st: Any, attrs: dict[str, int]) -> None:
    """Copy one of our attribute dicts (operations.to_stat) into a zeroed struct stat."""
    if len(attrs) != 12:  # partial ("." and ".." in listings)
        mfusepy.set_st_attrs(st, attrs, use_ns=True)
        return
    st.st_ino = attrs["st_ino"]
    st.st_mode = attrs["st_mode"]
    st.st_nlink = attrs["st_nlink"]
    st.st_uid = attrs["st_uid"]
    st.st_gid = attrs["st_gid"]
    st.st_size = attrs["st_size"]
    st.st_rdev = attrs["st_rdev"]
    st.st_blocks = attrs["st_blocks"]
    st.st_blksize = attrs["st_blksize"]
    for key, spec in (("st_atime", st.st_atimespec), ("st_mtime", st.st_mtimespec),
                      ("st_ctime", st.st_ctimespec)):
        spec.tv_sec, spec.tv_nsec = divmod(attrs[key], 1_000_000_000)


class Session:
    """One mount: creates the session from ``ops_table`` and serves it until unmounted."""

    def __init__(self, ops_table: fuse_lowlevel_ops, mountpoint: str,
                 options: list[str]) -> None:
        self.mountpoint = mountpoint
        self.options = options
        self._table = ops_table
        self.se: int | None = None
        self.kernel = KernelCache(self)

    def run(self, threads: int | None) -> int:
        """Mount, serve with ``threads`` workers (None: one thread), unmount.
        Returns libfuse's loop status; raises OSError when mounting failed."""
        if MISSING:
            raise OSError(0, f"redisfs needs libfuse 3.12 or newer; this one ({library_version()}) "
                             f"lacks {', '.join(MISSING)}")
        argv = [b"redisfs"]
        if self.options:
            argv += [b"-o", ",".join(self.options).encode()]
        args = fuse_args(len(argv), (ctypes.c_char_p * len(argv))(*argv), 0)
        se = lib.fuse_session_new(ctypes.byref(args), ctypes.byref(self._table),
                                  ctypes.sizeof(self._table), None)
        if not se:
            raise OSError(0, "libfuse refused the options " + ",".join(self.options))
        self.se = se
        try:
            # libfuse only takes signals left at SIG_DFL; Python owns SIGINT otherwise
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if lib.fuse_set_signal_handlers(se) != 0:
                raise OSError(0, "cannot install signal handlers")
            if lib.fuse_session_mount(se, os.fsencode(self.mountpoint)) != 0:
                raise OSError(0, f"mounting on {self.mountpoint} failed")
            self.kernel.start()
            try:
                if threads is None:
                    return lib.fuse_session_loop(se)
                config = lib.fuse_loop_cfg_create()
                # idle == max: libfuse never ends a worker (each one pins a Python thread
                # state, see trace.keep_thread_state)
                lib.fuse_loop_cfg_set_max_threads(config, threads)
                lib.fuse_loop_cfg_set_idle_threads(config, threads)
                try:
                    return lib.fuse_session_loop_mt_312(se, config)
                finally:
                    lib.fuse_loop_cfg_destroy(config)
            finally:
                lib.fuse_session_unmount(se)
        finally:
            self.kernel.close()  # before the session is freed: the sender uses it
            lib.fuse_remove_signal_handlers(se)
            self.se = None
            lib.fuse_session_destroy(se)  # calls the destroy operation

    def exit(self) -> None:
        if self.se:
            lib.fuse_session_exit(self.se)


class KernelCache:
    """Tells the kernel to drop cached pages of an inode.

    The kernel carries out an invalidation inside the daemon's write to /dev/fuse and
    waits there for the inode's page locks -- which a READ request of that inode holds
    until the daemon answers it.  So a request never sends one itself: they are queued
    and sent by one thread of their own that holds nothing.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._queue: dict[int, None] = {}  # inodes to invalidate, in order, no repeats
        self._queued = threading.Condition()
        self._closing = False
        self._sender: threading.Thread | None = None
        self.refill = RefillGuard()  # drops of pages racing with writes in flight
        # ranges to drop again (refill.py), each with an event set once it is done
        self._ranges: queue.SimpleQueue[tuple[int, int, int, threading.Event] | None] = (
            queue.SimpleQueue())
        self._range_sender: threading.Thread | None = None

    def start(self) -> None:
        self._sender = threading.Thread(target=self._send_loop, daemon=True,
                                        name="redisfs-invalidate")
        self._sender.start()
        self._range_sender = threading.Thread(target=self._range_loop, daemon=True,
                                              name="redisfs-refill")
        self._range_sender.start()

    def invalidate(self, ino: int) -> None:
        """Queue ``ino``'s pages and attributes for invalidation; returns at once."""
        if self._sender is None:
            return
        with self._queued:
            self._queue[ino] = None
            self._queued.notify()

    def forget_attributes(self, ino: int) -> None:
        """Drop the kernel's cached attributes (size) of ``ino`` now.  Takes no page
        lock (a negative offset leaves the pages alone), so a request may call it."""
        se = self._session.se
        if se and self._sender is not None:
            lib.fuse_lowlevel_notify_inval_inode(se, ino, -1, 0)

    def _send_loop(self) -> None:
        while True:
            with self._queued:
                while not self._queue and not self._closing:
                    self._queued.wait()
                if self._closing:
                    self._queue.clear()
                    return
                inos = list(self._queue)
                self._queue.clear()
            se = self._session.se
            for ino in inos:
                if se:  # ENOENT (the kernel does not know the inode) needs nothing done
                    token = self.refill.drop_begins(ino)
                    lib.fuse_lowlevel_notify_inval_inode(se, ino, 0, 0)
                    self.refill.drop_ended(ino, token)

    def drop_range(self, ino: int, start: int, end: int) -> None:
        """Drop the kernel's pages of [start, end) of ``ino``, which a WRITE just stored
        in the daemon (see refill.py); called inside that WRITE, it waits at most
        RANGE_WAIT s.  The kernel may keep the write's last folio locked until the reply
        (one it did not fill, which may be a large folio reaching before ``start``): the
        drop, which goes through the range in order, has dropped every earlier folio
        when it stops there, and that one cannot hold old bytes (a READ cannot fill a
        locked folio); it goes once the reply unlocks it."""
        if self._range_sender is None:
            return
        done = threading.Event()
        self._ranges.put((ino, start, end, done))
        if not done.wait(RANGE_WAIT):
            log.debug("dropping pages of inode %d: still waiting after %s s", ino, RANGE_WAIT)

    def _range_loop(self) -> None:
        while (item := self._ranges.get()) is not None:
            ino, start, end, done = item
            se = self._session.se
            if se:
                token = self.refill.drop_begins(ino)
                lib.fuse_lowlevel_notify_inval_inode(se, ino, start, end - start)
                self.refill.drop_ended(ino, token)
            done.set()

    def close(self) -> None:
        """Unmounting: stop the senders (pending invalidations no longer matter)."""
        with self._queued:
            self._closing = True
            self._queued.notify_all()
        if self._sender is not None:
            self._sender.join()
        if self._range_sender is not None:
            self._ranges.put(None)
            self._range_sender.join()


def library_version() -> str:
    return f"{VERSION[0]}.{VERSION[1]}"
