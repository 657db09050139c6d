"""Creating, linking, removing and renaming names through FUSE.

Kernel invalidations of other hard-link names are only queued here, never sent by the
request: libfuse holds path write locks during these operations, and a READ of the other
name holding that name's pages can be waiting for them.

libfuse's high-level API has two habits handled here: each path is its own kernel
inode (so changes to a hard-linked inode are pushed to its other names), and a
file unlinked while open here is renamed to ``.fuse_hidden*`` instead -- which
this mount turns into a real unlink in Redis plus a name only it knows.
"""

from __future__ import annotations

import errno
import platform
import re
import stat
import threading
import time
from typing import TYPE_CHECKING

from ..core import RENAME_EXCHANGE, FsError
from ._fuse import fuse_context
from .parts import OperationParts

if TYPE_CHECKING:
    from ..core import Attr
    from .handles import HandleTable
    from .names import LinkNames

# libfuse renames an open file it is asked to unlink to this prefix; see _hide()
HIDDEN_PREFIX = ".fuse_hidden"
HIDDEN_NAME = re.compile(r"\.fuse_hidden[0-9a-f]{16}")  # libfuse's format, exactly
# libfuse hides an open file both for unlink() and for a rename() over it; which one
# it was is read from the caller's /proc/<tid>/syscall (Linux syscall numbers)
RENAME_SYSCALLS = {"x86_64": {82, 264, 316}, "aarch64": {38, 276}}.get(platform.machine(), set())
# without /proc access: how soon the rename of the same request follows the hide
HIDE_WINDOW = 0.05


def caller_is_renaming(tid: int) -> bool | None:
    """Is the calling thread inside rename(2)?  None when /proc cannot tell."""
    try:
        with open(f"/proc/{tid}/syscall", encoding="ascii") as handle:
            number = int(handle.read().split(" ", 1)[0])
    except (OSError, ValueError):
        return None
    return number in RENAME_SYSCALLS if RENAME_SYSCALLS else None


def split_path(path: str) -> tuple[str, str]:
    """('/a/b', 'c') for '/a/b/c'; ('/', 'c') for '/c'."""
    parent, _, name = path.rpartition("/")
    return parent or "/", name


class NameOps(OperationParts):
    """Mixed into RedisFsOperations, which provides the attributes and helpers below."""

    handles: HandleTable
    links: LinkNames
    hidden: dict[str, int]
    _last_hide: dict[int, tuple[str, int, float, int, bool | None]]

    def mknod(self, path: str, mode: int, dev: int) -> int:
        self._forget_hide()
        self._writable()
        parent_ino, name = self._parent_ino(path)
        uid, gid, mode = self._owner(parent_ino, mode)
        self._new_entry(path, parent_ino, name,
                        self.fs.mknod(parent_ino, name, mode, uid, gid, rdev=dev))
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        self._forget_hide()
        self._writable()
        parent_ino, name = self._parent_ino(path)
        uid, gid, mode = self._owner(parent_ino, stat.S_IFDIR | mode)
        self._new_entry(path, parent_ino, name, self.fs.mkdir(parent_ino, name, mode, uid, gid))
        return 0

    def symlink(self, path: str, target: str) -> int:
        self._forget_hide()
        """``ln -s target path`` (mfusepy passes the new name first)."""
        self._writable()
        parent_ino, name = self._parent_ino(path)
        uid, gid, _mode = self._owner(parent_ino, stat.S_IFLNK)
        self._new_entry(path, parent_ino, name,
                        self.fs.symlink(parent_ino, name, target, uid, gid))
        return 0

    def link(self, path: str, existing: str) -> int:
        self._forget_hide()
        """``ln existing path`` (mfusepy passes the new name first)."""
        self._writable()
        ino = self._lookup(existing).ino
        parent_ino, name = self._parent_ino(path)
        token = self.cache.token()
        attr = self.fs.link(ino, parent_ino, name)
        self.cache.remember(path, attr, token)
        self.cache.name_added(parent_ino, name)
        self.cache.update(parent_ino, mtime_ns=attr.ctime_ns, ctime_ns=attr.ctime_ns)
        self.links.track(ino, existing)
        self._changed(ino, path, wait=False)
        return 0

    def _removed(self, path: str, parent_ino: int, name: str, ino: int, when: int,
                 was_dir: bool) -> None:
        self.cache.forget_path(path)  # (an rmdir'ed directory was empty: nothing below)
        self.cache.forget_ino(ino)
        self.cache.name_removed(parent_ino, name)
        parent = self.cache.attrs.get(parent_ino)
        if parent is not None:
            self.cache.update(parent_ino, mtime_ns=when, ctime_ns=when,
                              nlink=parent.nlink - (1 if was_dir else 0))
        self.links.drop_path(ino, path)
        self._changed(ino, path, wait=False)

    def unlink(self, path: str) -> int:
        self._writable()
        parent, name = split_path(path)
        self._forget_hide()
        if name.startswith(HIDDEN_PREFIX) and self.hidden.pop(name, None) is not None:
            return 0  # libfuse's last-close cleanup; release() already let Redis free it
        parent_ino = self._lookup(parent).ino
        when = time.time_ns()
        self._removed(path, parent_ino, name, self.fs.unlink(parent_ino, name, when), when,
                      was_dir=False)
        return 0

    def rmdir(self, path: str) -> int:
        self._forget_hide()
        self._writable()
        parent_ino, name = self._parent_ino(path)
        when = time.time_ns()
        self._removed(path, parent_ino, name, self.fs.rmdir(parent_ino, name, when), when,
                      was_dir=True)
        return 0

    def rename(self, old: str, new: str, flags: int = 0) -> int:
        self._writable()
        hid = self._last_hide.pop(threading.get_ident(), None)
        new_name = split_path(new)[1]
        if flags == 0 and HIDDEN_NAME.fullmatch(new_name):
            if self._hide(old, new_name):
                return 0
            # libfuse hides a file it has open here, but the name now holds something else
            # (another mount replaced it): the open file has already left the name, so
            # nothing moves (moving the newcomer would leave it behind as a .fuse_hidden
            # entry on every mount)
            self.hidden[new_name] = 0
            return 0
        if hid is not None and self._same_inode_after_hide(hid, old, new):
            return 0
        src_parent, src_name = self._parent_ino(old)
        dst_parent, dst_name = self._parent_ino(new)
        moved_attr = self._lookup(old)
        moved = moved_attr.ino
        try:
            replaced_attr: Attr | None = self._lookup(new)
        except FsError as exc:
            if exc.errno != errno.ENOENT:
                raise
            replaced_attr = None
        replaced = replaced_attr.ino if replaced_attr is not None else None
        self.fs.rename(src_parent, src_name, dst_parent, dst_name, flags)
        if replaced == moved:
            return 0  # two names of one inode: rename(2) does nothing, both names stay
        if moved_attr.is_dir or (replaced_attr is not None and replaced_attr.is_dir):
            self.cache.forget_tree(old)  # cached paths below a moved directory
            self.cache.forget_tree(new)
        else:
            self.cache.forget_path(old)
            self.cache.forget_path(new)
        if not flags & RENAME_EXCHANGE:  # an exchange keeps both names
            self.cache.name_removed(src_parent, src_name)
        self.cache.name_added(dst_parent, dst_name)
        for ino in (moved, replaced, src_parent, dst_parent):
            if ino is not None:
                self.cache.forget_ino(ino)
        if replaced is not None and replaced != moved:
            self.links.drop_path(replaced, new)
            self._changed(replaced, wait=False)
        self.links.moved(old, new)
        return 0

    def _forget_hide(self) -> None:
        """A namespace change on this thread that is not the rename libfuse sends right
        after a hide: a later rename must not be mistaken for that one."""
        self._last_hide.pop(threading.get_ident(), None)

    def _hide(self, path: str, hidden_name: str) -> bool:
        """libfuse hides a file unlinked while open here by renaming it.

        Instead the name is really unlinked in Redis (other mounts stop seeing it,
        its directory can be removed) while the inode lives on as an orphan held by
        our open handle; libfuse keeps using the hidden name, known only to this
        process, for fstat and the final unlink.  False for an ordinary rename.
        """
        attr = self._lookup(path)
        if attr.is_dir or self.handles.state(attr.ino) is None:
            return False
        self.unlink(path)
        self.hidden[hidden_name] = attr.ino
        pid = fuse_context()[2]
        self._last_hide[threading.get_ident()] = (path, attr.ino, time.monotonic(), pid,
                                                  caller_is_renaming(pid))
        return True

    def _same_inode_after_hide(self, hid: tuple[str, int, float, int], old: str,
                               new: str) -> bool:
        """rename(old, new) where libfuse just hid ``new`` (open here) on this thread:
        if ``old`` is another name of that inode, rename(2) must change nothing, so the
        name libfuse hid is linked back.  libfuse renames right after hiding, in the same
        request on the same thread.  Whether the hide belonged to a rename or to an
        unlink is read from the caller's current syscall (an unlink followed quickly by
        a rename of another name onto the freed name must move that name); without
        /proc, a rename within HIDE_WINDOW counts.)"""
        path, ino, when, pid, renaming = hid
        if path != new or fuse_context()[2] != pid or renaming is False:
            return False  # the hide came from unlink(2): this is a new, ordinary rename
        if renaming is None and time.monotonic() - when > HIDE_WINDOW:
            return False
        if self._lookup(old).ino != ino:
            return False
        parent_ino, name = self._parent_ino(new)
        token = self.cache.token()
        attr = self.fs.link(ino, parent_ino, name)
        self.cache.remember(new, attr, token)
        self.cache.name_added(parent_ino, name)
        self.cache.invalidate(parent_ino)
        self._changed(ino, wait=False)
        return True
