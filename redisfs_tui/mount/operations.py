"""FUSE operations (mfusepy's path-based API) over ``redisfs_tui.core``.

Paths become inode numbers through short-lived caches; everything after that is
inode-based core calls.  No mutex spans a Redis call except the per-inode one that
orders flushes of buffered writes, so independent requests run in parallel on the
multi-threaded FUSE loop.  File I/O lives in fileio.py.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from typing import Any

from ..core import NAME_MAX, ROOT_INO, Attr, FileSystem, FsError
from ._fuse import FUSE3, KernelCache, Operations, fuse_context, rename_guard
from .caches import MetaCache
from .config import MountConfig
from .fileio import FileIo
from .handles import HandleTable, InodeState
from .names import DirHandles, LinkNames
from .namespace import HIDDEN_PREFIX, NameOps, split_path
from .writeback import Writeback
from .xattrs import XattrOps

log = logging.getLogger("redisfs.mount")

STAT_TRIES = 4  # reads of a stat racing with saves before taking the write lock
STAT_KEYS = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree",
             "f_favail", "f_namemax")


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


def join_path(parent: str, name: str) -> str:
    return "/" + name if parent == "/" else parent + "/" + name


class RedisFsOperations(NameOps, FileIo, XattrOps, Operations):
    """One mounted filesystem.  Attribute names must not collide with FUSE operation
    names (mfusepy registers any attribute called like one, e.g. ``lock``)."""

    use_ns = True

    def __init__(self, fs: FileSystem, config: MountConfig) -> None:
        self.fs = fs
        self.read_only = fs.read_only
        self.cache = MetaCache(config.cache_ttl)
        self.handles = HandleTable()
        self.dirs = DirHandles()
        self.links = LinkNames()
        self.kernel = KernelCache()
        self.rename_guard = rename_guard()
        self.mountpoint = config.mountpoint
        self.writeback = Writeback(fs, config.write_buffer, self._stored)
        if not fs.read_only:
            self.writeback.start_timer(self.handles.all_states)
        self.block_size = fs.block_size
        self.readahead = config.readahead_kib * 1024
        self.hidden: dict[str, int] = {}  # .fuse_hidden name -> unlinked inode still open
        # libfuse worker thread -> the name it just hid (see rename()); not a
        # threading.local: ctypes gives each callback a fresh Python thread state
        self._last_hide: dict[int, tuple[str, int, float, int, bool | None]] = {}
        self.on_ready: Any = None  # set by the runner: called once the mount is live
        self.on_shutdown: Any = None  # set by the runner: called after the last request

    # -- lifecycle -----------------------------------------------------------
    def init_with_config(self, conn_info: Any, config_3: Any) -> None:
        if conn_info is not None and self.readahead:
            # the kernel caps the mount's readahead at this when init returns; the runner
            # raises the readahead itself (sysfs) in on_ready, see config.py
            conn_info.max_readahead = max(conn_info.max_readahead, self.readahead)
        fuse_ptr = self.kernel.capture()
        if FUSE3:
            self.rename_guard.install(fuse_ptr, self.mountpoint)
        if self.on_ready is not None:
            self.on_ready()

    def destroy(self, path: str) -> None:
        """Unmounting: store what is still buffered and drop this mount's open handles."""
        for state in self.handles.all_states():
            try:
                self.writeback.flush(state)
            except OSError as exc:
                log.error("unmount: lost buffered data of inode %d: %s", state.ino, exc)
            if state.registered and not self.read_only:
                self.writeback.release_later(state.ino)
        self.writeback.close()
        self.kernel.close()
        if self.on_shutdown is not None:
            self.on_shutdown()

    def _stored(self, ino: int) -> None:
        """Buffered data reached Redis: the write script changed size and mtime.
        (Runs under the inode's write lock, or in a background thread: no waiting.)"""
        self.cache.invalidate(ino)
        self._changed(ino, wait=False)

    # -- helpers ----------------------------------------------------------------
    def _writable(self) -> None:
        if self.read_only:
            raise FsError(errno.EROFS)

    def _attr(self, ino: int) -> Attr:
        attr = self.cache.attrs.get(ino)
        if attr is None:
            token = self.cache.token()
            attr = self.fs.getattr(ino)
            self.cache.put_attr(ino, attr, token)
        return attr

    def _lookup(self, path: str) -> Attr:
        """Attributes of the inode at ``path``: from cache, by parent inode, or by resolve."""
        if path == "/":
            return self._attr(ROOT_INO)
        parent, name = split_path(path)
        if len(os.fsencode(name)) > NAME_MAX:
            raise FsError(errno.ENAMETOOLONG)
        if self.hidden and name.startswith(HIDDEN_PREFIX):
            hidden = self.hidden.get(name)
            if hidden == 0:  # (see NameOps.rename: nothing of ours has that name)
                raise FsError(errno.ENOENT)
            if hidden is not None:
                return self._attr(hidden)
        ino = self.cache.paths.get(path)
        if ino is not None:
            attr = self.cache.attrs.get(ino)
            if attr is not None:
                return attr
            token = self.cache.token()
            try:
                attr = self.fs.getattr(ino)
            except FsError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                self.cache.forget_path(path)
            else:
                self.cache.put_attr(ino, attr, token)
                return attr
        token = self.cache.token()
        parent_ino = ROOT_INO if parent == "/" else self.cache.paths.get(parent)
        if parent_ino is None:
            attr = self.fs.resolve(path)
        else:
            if self.cache.known_absent(parent_ino, name):
                raise FsError(errno.ENOENT)
            attr = self._lookup_child(parent_ino, name)
        self.cache.remember(path, attr, token)
        return attr

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

    def _ino(self, path: str | None, fh: int | None = None) -> int:
        if fh:
            handle = self.handles.get(fh)
            if handle is not None:
                return handle.ino
        if path is None:
            raise FsError(errno.EBADF)
        return self._lookup(path).ino

    def _parent_ino(self, path: str) -> tuple[int, str]:
        parent, name = split_path(path)
        return self._lookup(parent).ino, name

    def _owner(self, parent_ino: int, mode: int) -> tuple[int, int, int]:
        """uid, gid and mode for a new inode; a set-group-ID directory passes on its group."""
        uid, gid, _pid = fuse_context()
        parent = self._attr(parent_ino)
        if parent.mode & stat.S_ISGID:
            gid = parent.gid
            if stat.S_ISDIR(mode):
                mode |= stat.S_ISGID
        return uid, gid, mode

    def _new_entry(self, path: str, parent_ino: int, name: str, attr: Attr) -> None:
        """Record a name this mount just created (the parent was touched at attr.ctime)."""
        self.cache.paths.put(path, attr.ino)
        self.cache.new_inode(attr)
        self.cache.name_added(parent_ino, name)
        parent = self.cache.attrs.get(parent_ino)
        if parent is not None:
            self.cache.update(parent_ino, mtime_ns=attr.ctime_ns, ctime_ns=attr.ctime_ns,
                              nlink=parent.nlink + (1 if attr.is_dir else 0))

    def _changed(self, ino: int, path: str | None = None, wait: bool = True) -> None:
        """Push a change of ``ino`` to the kernel's copies of its other hard-link names
        (``path`` is the name the change came through).  A request does it itself, so
        a stat through another name right after sees the change; ``wait=False`` (under
        a lock a FUSE request may wait for, see KernelCache) queues it instead."""
        if not self.links:
            return
        for other in self.links.others(ino, path):
            if wait:  # here, not behind the queue: that may wait for this name's pages
                self.kernel.invalidate_now(other)
            else:
                self.kernel.invalidate(other)

    def _to_stat(self, attr: Attr, path: str | None = None) -> dict[str, int]:
        if path is not None and attr.nlink > 1 and not attr.is_dir:
            self.links.track(attr.ino, path)
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
    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, int]:
        handle = self.handles.get(fh) if fh else None
        if handle is not None:
            return self._consistent_stat(None, handle.ino)
        if path is None:
            raise FsError(errno.EBADF)
        return self._consistent_stat(path, None)

    def _consistent_stat(self, path: str | None, ino: int | None) -> dict[str, int]:
        """Attributes from Redis (or the cache) combined with what this mount has not
        stored yet, read at one moment: the size must never be below the end of a
        write already acknowledged, or the kernel shrinks the file.

        A save that completes meanwhile invalidates the inode (the token shows it) and
        moves between buffer and storing count ``state.seq``: either means read again.
        After a few tries the inode's write lock is taken, under which nothing moves."""
        attr: Attr | None = None
        for _ in range(STAT_TRIES):
            token = self.cache.token()
            attr = self._attr(ino) if ino is not None else self._lookup(path or "/")
            state = self.handles.state(attr.ino)
            seq = state.seq if state is not None else 0
            result = self._to_stat(attr, path)
            if seq % 2 == 0 and not self.cache.changed_since(attr.ino, token) and (
                    state is None or state.seq == seq):
                return result
        assert attr is not None
        state = self.handles.state(attr.ino)
        if state is None:
            return result
        with state.io_mutex:
            return self._to_stat(self._attr(attr.ino), path)

    def readlink(self, path: str) -> str:
        attr = self._lookup(path)
        if not attr.is_symlink or attr.target is None:
            raise FsError(errno.EINVAL)
        return os.fsdecode(attr.target)

    def _set(self, path: str | None, attr: Attr, token: int) -> int:
        """Cache what a setattr script answered, unless the inode changed meanwhile."""
        self.cache.put_attr(attr.ino, attr, token)
        self._changed(attr.ino, path)
        return 0

    def _defer(self, ino: int, path: str | None, changes: list[tuple[str, int]]) -> bool:
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
        self._changed(ino, path)  # (_to_stat lays the pending changes over the cached attr)
        return True

    def chmod(self, path: str | None, mode: int, fh: int | None = None) -> int:
        self._writable()
        ino = self._ino(path, fh)
        if self._defer(ino, path, [("perm", mode & 0o7777)]):
            return 0
        token = self.cache.token()
        return self._set(path, self.fs.chmod(ino, mode), token)

    def chown(self, path: str | None, uid: int, gid: int, fh: int | None = None) -> int:
        self._writable()
        ino = self._ino(path, fh)
        changes = [(name, value) for name, value in (("uid", uid), ("gid", gid)) if value != -1]
        if self._defer(ino, path, changes):
            return 0
        token = self.cache.token()
        return self._set(path, self.fs.chown(ino, uid, gid), token)

    def utimens(self, path: str | None, times: tuple[int | None, int | None] | None = None,
                fh: int | None = None) -> int:
        self._writable()
        ino = self._ino(path, fh)
        if times is None:  # libfuse2's way of saying "now"
            atime: int | None = time.time_ns()
            mtime = atime
        else:
            atime, mtime = times
        changes = [(name, value) for name, value in (("atime", atime), ("mtime", mtime))
                   if value is not None]
        if self._defer(ino, path, changes):
            return 0
        self._flush_ino(ino)  # a later flush would overwrite the new mtime
        token = self.cache.token()
        return self._set(path, self.fs.utimens(ino, atime, mtime), token)

    def statfs(self, path: str) -> dict[str, int]:
        info = self.fs.statfs()
        return {key: info[key] for key in STAT_KEYS}

    # -- directories ------------------------------------------------------------------
    def opendir(self, path: str) -> int:
        attr = self._lookup(path)
        if not attr.is_dir:
            raise FsError(errno.ENOTDIR)
        return self.dirs.open(attr.ino, path)

    def releasedir(self, path: str | None, fh: int) -> int:
        self.dirs.close(fh)
        return 0

    def _listing(self, path: str, ino: int) -> list[tuple[str, dict[str, Any]]]:
        """Every entry with full attributes, fetched in pages; feeds the caches."""
        attr = self._attr(ino)
        entries: list[tuple[str, dict[str, Any]]] = [
            (".", {"st_ino": ino, "st_mode": attr.mode}),
            ("..", {"st_ino": attr.parent or ino, "st_mode": stat.S_IFDIR})]
        cached = self.cache.cached_listing(ino)
        if cached is not None:
            for name, child in cached:
                entries.append((name, self._to_stat(child, join_path(path, name))))
            return entries
        generation = self.cache.generation(ino)
        token = self.cache.token()
        listed: list[tuple[str, int]] = []
        skipped: list[bytes] = []  # damaged inodes: they exist, so the listing is partial
        for page in self.fs.readdir_plus(ino, skipped=skipped):
            known = []
            for raw_name, child in page:
                name = os.fsdecode(raw_name)
                listed.append((name, child.ino))
                child_path = join_path(path, name)
                known.append((child_path, child))
                if self.handles.state(child.ino) is None:
                    entries.append((name, self._to_stat(child, child_path)))
                else:  # open here: may have data or a save in progress
                    entries.append((name, self._consistent_stat(None, child.ino)))
            self.cache.paths.put_many([(p, a.ino) for p, a in known])
            for _, child in known:
                self.cache.put_attr(child.ino, child, token)
        if not skipped:
            self.cache.listing_from_readdir(ino, listed, generation)
        return entries

    def readdir_page(self, path: str | None, fh: int, offset: int,
                     limit: int = 512) -> list[tuple[str, dict[str, Any], int]]:
        """Up to ``limit`` entries from ``offset`` on, each with the next entry's offset
        (the kernel asks for a buffer-full at a time and continues at an offset)."""
        handle = self.dirs.get(fh)
        if handle is None:
            if path is None:
                raise FsError(errno.EBADF)
            entries = self._listing(path, self._lookup(path).ino)
        else:
            with handle.mutex:
                if offset == 0 or handle.entries is None:  # (re)start: a fresh listing
                    handle.entries = self._listing(path or handle.path, handle.ino)
                entries = handle.entries
        end = min(len(entries), offset + limit)
        return [(entries[i][0], entries[i][1], i + 1) for i in range(offset, end)]

    def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, Any], int]]:
        """Whole listing (libfuse2, where mfusepy's own readdir wrapper is used)."""
        handle = self.dirs.get(fh)
        ino = handle.ino if handle is not None else self._lookup(path).ino
        return [(name, attrs, 0) for name, attrs in self._listing(path, ino)]

    def ioctl(self, path: str, cmd: int, arg: Any, fh: int, flags: int, data: Any) -> int:
        raise FsError(errno.ENOTTY)
