"""FUSE operations (libfuse's low-level, inode-based API) over ``redisfs_tui.core``.

The kernel's inode numbers are redisfs inode numbers, so every hard-link name of a
file is one kernel inode with one page cache, and no path ever needs resolving.
No mutex spans a Redis call except the per-inode one that orders flushes of
buffered writes, so independent requests run in parallel on the multi-threaded
FUSE loop.  requests.py unpacks the kernel's requests; file I/O lives in fileio.py.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from typing import Any

from ..core import NAME_MAX, Attr, FileSystem, FsError, Version
from .caches import MetaCache
from .config import MountConfig
from .fileio import FileIo
from .handles import HandleTable, InodeState
from .lowlevel import KernelCache
from .names import DirHandles, KernelNames
from .namespace import NameOps
from .pagecache import PageCache
from .parts import gone_is_stale
from .writeback import Writeback
from .xattrs import XattrOps

log = logging.getLogger("redisfs.mount")

STAT_TRIES = 4  # reads of a stat racing with saves before taking the write lock
STAT_KEYS = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree",
             "f_favail", "f_namemax")
# init: the kernel must not drop a file's pages by itself when it sees a new mtime or size
# (see pagecache.py); this mount drops them only for other clients' changes
CAP_AUTO_INVAL_DATA = 1 << 12
CAP_EXPLICIT_INVAL_DATA = 1 << 25


def overlay(attr: Attr, state: InodeState) -> Attr:
    """``attr`` with the attribute changes this mount has not stored yet."""
    changes: dict[str, int] = {}
    for name, value in {**state.saving, **state.pending}.items():
        if name == "perm":
            changes["mode"] = (attr.mode & ~0o7777) | value
        else:
            changes[name if name in ("uid", "gid") else name + "_ns"] = value
    changes["ctime_ns"] = max(attr.ctime_ns, state.pending_ctime)
    return attr.but(**changes)


class RedisFsOperations(NameOps, FileIo, XattrOps):
    """One mounted filesystem, called by requests.Requests."""

    def __init__(self, fs: FileSystem, config: MountConfig) -> None:
        self.fs = fs
        self.read_only = fs.read_only
        self.cache = MetaCache(config.cache_ttl)
        self.handles = HandleTable()
        self.dirs = DirHandles()
        self.names = KernelNames()
        self.kernel: KernelCache | None = None  # set by the runner once the session exists
        self.mountpoint = config.mountpoint
        self.writeback = Writeback(fs, config.write_buffer, self._stored)
        if not fs.read_only:
            self.writeback.start_timer(self.handles.all_states)
        self.block_size = fs.block_size
        self.readahead = config.readahead_kib * 1024
        self.sync_replicas = config.sync_replicas
        # WAIT must answer before the socket timeout turns it into a dropped connection
        self.sync_timeout_ms = int(config.timeout * 500)
        self.pages = PageCache(self.cache, self._busy, lambda: self.kernel,
                               self._forget_reads)
        self.on_ready: Any = None  # set by the runner: called once the mount is live
        self.on_shutdown: Any = None  # set by the runner: called after the last request

    # -- lifecycle -----------------------------------------------------------
    def init(self, conn_info: Any) -> None:
        if self.readahead:
            # the kernel caps the mount's readahead at this when init returns; the runner
            # raises the readahead itself (sysfs) in on_ready, see config.py
            conn_info.max_readahead = max(conn_info.max_readahead, self.readahead)
        conn_info.want &= ~CAP_AUTO_INVAL_DATA
        if conn_info.capable & CAP_EXPLICIT_INVAL_DATA:
            conn_info.want |= CAP_EXPLICIT_INVAL_DATA
        if self.on_ready is not None:
            self.on_ready()

    def destroy(self) -> None:
        """Unmounting: store what is still buffered and drop this mount's open handles."""
        for state in self.handles.all_states():
            try:
                self.writeback.flush(state)
            except OSError as exc:
                log.error("unmount: lost buffered data of inode %d: %s", state.ino, exc)
            if state.registered and not self.read_only:
                self.writeback.release_later(state.ino)
        self.writeback.close()
        if self.on_shutdown is not None:
            self.on_shutdown()

    def _stored(self, ino: int, versions: list[tuple[Version | None, Version]]) -> None:
        """Buffered data reached Redis: the write script changed size and mtime.
        (Runs under the inode's write lock, or in a background thread: no waiting.)"""
        self.pages.changed_here(ino, versions)
        self.cache.invalidate(ino)

    # -- helpers ----------------------------------------------------------------
    def _forget_reads(self, ino: int) -> None:
        state = self.handles.state(ino)
        if state is not None:
            state.forget_reads()

    def _busy(self, ino: int) -> bool:
        """A change of this mount may be landing on ``ino`` (a flush is storing it)."""
        state = self.handles.state(ino)
        return state is not None and (self.writeback.dirty(state) or state.io_mutex.locked())

    def _writable(self) -> None:
        if self.read_only:
            raise FsError(errno.EROFS)

    def _attr(self, ino: int) -> Attr:
        attr = self.cache.attrs.get(ino)
        if attr is None:
            token = self.cache.token()
            try:
                attr = self.fs.getattr(ino)
            except FsError as exc:
                raise gone_is_stale(exc) from None
            self.cache.put_attr(ino, attr, token)
        return attr

    @staticmethod
    def _check_name(name: str) -> None:
        if len(os.fsencode(name)) > NAME_MAX:
            raise FsError(errno.ENAMETOOLONG)

    def lookup(self, parent_ino: int, name: str) -> dict[str, int]:
        self._check_name(name)
        if self.cache.known_absent(parent_ino, name):
            self.names.gone(parent_ino, name, shared=True)
            raise FsError(errno.ENOENT)
        token = self.cache.token()
        try:
            attr = self._lookup_child(parent_ino, name)
        except FsError:
            self.names.gone(parent_ino, name, shared=True)
            raise
        self.names.told(parent_ino, name, attr.ino, shared=True)
        self.cache.put_attr(attr.ino, attr, token)
        self.pages.observed(attr, token)
        if self.handles.state(attr.ino) is not None:
            return self._consistent_stat(attr.ino)
        return self._to_stat(attr)

    def _lookup_child(self, parent_ino: int, name: str) -> Attr:
        """Ask Redis; after the second name looked up in vain in one directory within the
        cache TTL (a program creating files: the kernel looks each name up first), list
        the directory's names once so later misses are answered from memory."""
        try:
            return self.fs.lookup(parent_ino, name)
        except FsError as exc:
            if exc.errno != errno.ENOENT:
                raise
            misses = self.cache.misses.get(parent_ino) or 0
            if misses < 0:
                raise  # too large to list
            if misses:
                generation = self.cache.generation(parent_ino)
                names = self.fs.names_if_few(parent_ino)
                if names is None:
                    self.cache.misses.put(parent_ino, -1)
                else:
                    self.cache.listing_from_names(
                        parent_ino, {os.fsdecode(n) for n in names}, generation)
            else:
                self.cache.misses.put(parent_ino, 1)
            raise

    def _owner(self, parent_ino: int, mode: int, uid: int, gid: int) -> tuple[int, int, int]:
        """uid, gid and mode for a new inode; a set-group-ID directory passes on its group."""
        parent = self._attr(parent_ino)
        if parent.mode & stat.S_ISGID:
            gid = parent.gid
            if stat.S_ISDIR(mode):
                mode |= stat.S_ISGID
        return uid, gid, mode

    def _new_entry(self, parent_ino: int, name: str, attr: Attr) -> dict[str, int]:
        """Record a name this mount just created (the parent was touched at attr.ctime)."""
        self.names.told(parent_ino, name, attr.ino)
        self.cache.new_inode(attr)
        if attr.is_reg:
            self.pages.created(attr)
        self.cache.name_added(parent_ino, name)
        parent = self.cache.attrs.get(parent_ino)
        if parent is not None:
            self.cache.update(parent_ino, mtime_ns=attr.ctime_ns, ctime_ns=attr.ctime_ns,
                              nlink=parent.nlink + (1 if attr.is_dir else 0))
        return self._to_stat(attr)

    def _to_stat(self, attr: Attr) -> dict[str, int]:
        size = attr.size
        state = self.handles.state(attr.ino)
        if state is not None:  # writes and attribute changes not yet in Redis count too
            size = max(size, state.unsaved_end)
            if state.pending or state.saving:
                attr = overlay(attr, state)
        return {
            "st_ino": attr.ino, "st_mode": attr.mode, "st_nlink": attr.nlink,
            "st_uid": attr.uid, "st_gid": attr.gid, "st_size": size, "st_rdev": attr.rdev,
            "st_atime": attr.atime_ns, "st_mtime": attr.mtime_ns, "st_ctime": attr.ctime_ns,
            "st_blocks": (size + 511) // 512 if attr.is_reg else 0,
            "st_blksize": self.block_size,
        }

    # -- attributes ---------------------------------------------------------------
    def getattr(self, ino: int, fh: int | None = None) -> dict[str, int]:
        return self._consistent_stat(ino)

    def _consistent_stat(self, ino: int) -> dict[str, int]:
        """Attributes from Redis (or the cache) combined with what this mount has not
        stored yet, read at one moment: the size must never be below the end of a
        write already acknowledged, or the kernel shrinks the file.

        A save that completes meanwhile invalidates the inode (the token shows it) and
        moves between buffer and storing count ``state.seq``: either means read again.
        After a few tries the inode's write lock is taken, under which nothing moves."""
        for _ in range(STAT_TRIES):
            token = self.cache.token()
            attr = self._attr(ino)
            state = self.handles.state(ino)
            seq = state.seq if state is not None else 0
            result = self._to_stat(attr)
            if seq % 2 == 0 and not self.cache.changed_since(ino, token) and (
                    state is None or state.seq == seq):
                self.pages.observed(attr, token)
                return result
        state = self.handles.state(ino)
        if state is None:
            return result
        with state.io_mutex:
            return self._to_stat(self._attr(ino))

    def setattr(self, ino: int, fh: int | None, mode: int | None = None,
                uid: int | None = None, gid: int | None = None, size: int | None = None,
                atime: int | None = None, mtime: int | None = None) -> dict[str, int]:
        """chmod, chown, truncate and utimens (in libfuse's order); answers the result."""
        self._writable()
        if mode is not None:
            self.chmod(ino, mode)
        if uid is not None or gid is not None:
            self.chown(ino, -1 if uid is None else uid, -1 if gid is None else gid)
        if size is not None:
            self.truncate(ino, size)
        if atime is not None or mtime is not None:
            self.utimens(ino, atime, mtime)
        return self._consistent_stat(ino)

    def readlink(self, ino: int) -> bytes:
        attr = self._attr(ino)
        if not attr.is_symlink or attr.target is None:
            raise FsError(errno.EINVAL)
        return attr.target

    def _set(self, run: Any, ino: int, *args: Any) -> None:
        """Run a setattr script and cache its answer, unless the inode changed meanwhile."""
        with self.pages.changing(ino):
            try:
                attr = run(ino, *args)
            except FsError as exc:
                raise gone_is_stale(exc) from None
            if attr.is_reg:  # (utimens moves the mtime)
                self.pages.changed_here(ino, [(None, (attr.mtime_ns, attr.size))])
        token = self.cache.token()
        self.cache.put_attr(ino, attr, token)

    def _defer(self, ino: int, changes: list[tuple[str, int]]) -> bool:
        """Keep a chmod/chown/utimens of a file with buffered data for the flush that
        stores the data (one round trip instead of two or three; ``cp -a`` does all
        three before close).  Other mounts see it with the data, at the latest on
        close or fsync; this mount shows it at once.  False: do it now."""
        state = self.handles.state(ino)
        if state is None:
            return False
        with state.io_mutex:
            if not self.writeback.dirty(state):
                return False
            state.pending.update(changes)
            state.pending_ctime = time.time_ns()
        return True  # (_to_stat lays the pending changes over the cached attr)

    def chmod(self, ino: int, mode: int) -> None:
        if not self._defer(ino, [("perm", mode & 0o7777)]):
            self._set(self.fs.chmod, ino, mode)

    def chown(self, ino: int, uid: int, gid: int) -> None:
        """-1 leaves that id as it is."""
        changes = [(name, value) for name, value in (("uid", uid), ("gid", gid)) if value != -1]
        if not self._defer(ino, changes):
            self._set(self.fs.chown, ino, uid, gid)

    def utimens(self, ino: int, atime: int | None, mtime: int | None) -> None:
        """None leaves that time as it is."""
        changes = [(name, value) for name, value in (("atime", atime), ("mtime", mtime))
                   if value is not None]
        if self._defer(ino, changes):
            return
        self._flush_ino(ino)  # a later flush would overwrite the new mtime
        self._set(self.fs.utimens, ino, atime, mtime)

    def statfs(self) -> dict[str, int]:
        info = self.fs.statfs()
        return {key: info[key] for key in STAT_KEYS}

    # -- directories ------------------------------------------------------------------
    def opendir(self, ino: int) -> int:
        attr = self._attr(ino)
        if not attr.is_dir:
            raise FsError(errno.ENOTDIR)
        return self.dirs.open(ino)

    def releasedir(self, ino: int, fh: int) -> None:
        self.dirs.close(fh)

    def _listing(self, ino: int) -> list[tuple[str, dict[str, Any]]]:
        """Every entry with full attributes, fetched in pages; feeds the caches."""
        attr = self._attr(ino)
        entries: list[tuple[str, dict[str, Any]]] = [
            (".", {"st_ino": ino, "st_mode": attr.mode}),
            ("..", {"st_ino": attr.parent or ino, "st_mode": stat.S_IFDIR})]
        cached = self.cache.cached_listing(ino)
        if cached is not None:
            for name, child in cached:
                entries.append((name, self._to_stat(child)))
            return entries
        generation = self.cache.generation(ino)
        token = self.cache.token()
        listed: list[tuple[str, int]] = []
        skipped: list[bytes] = []  # damaged inodes: they exist, so the listing is partial
        for page in self.fs.readdir_plus(ino, skipped=skipped):
            for raw_name, child in page:
                name = os.fsdecode(raw_name)
                listed.append((name, child.ino))
                self.cache.put_attr(child.ino, child, token)
                self.pages.observed(child, token)
                if self.handles.state(child.ino) is None:
                    entries.append((name, self._to_stat(child)))
                else:  # open here: may have data or a save in progress
                    entries.append((name, self._consistent_stat(child.ino)))
        if not skipped:
            self.cache.listing_from_readdir(ino, listed, generation)
        return entries

    def listed(self, ino: int, entries: list[tuple[str, int]]) -> None:
        """READDIRPLUS entries the kernel received: they are names it knows now."""
        self.names.told_many(ino, entries)

    def readdir(self, ino: int, fh: int, offset: int,
                limit: int = 512) -> list[tuple[str, dict[str, Any], int]]:
        """Up to ``limit`` entries from ``offset`` on, each with the next entry's offset
        (the kernel asks for a buffer-full at a time and continues at an offset)."""
        handle = self.dirs.get(fh)
        if handle is None:
            raise FsError(errno.EBADF)
        with handle.mutex:
            if offset == 0 or handle.entries is None:  # (re)start: a fresh listing
                handle.entries = self._listing(handle.ino)
            entries = handle.entries
        end = min(len(entries), offset + limit)
        return [(entries[i][0], entries[i][1], i + 1) for i in range(offset, end)]
