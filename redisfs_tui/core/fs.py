"""The filesystem API: every operation on inodes, entries and attributes.

Operations address inodes by number (as FUSE low-level APIs and the UI do);
``resolve`` turns a whole path into an inode in one round trip.  Every change
that touches several keys runs as one Lua script, so concurrent threads and
hosts need no shared mutex and a crash never leaves half an operation behind.
"""

from __future__ import annotations

import errno
import os
import stat
import time
import uuid
from collections.abc import Iterator

import redis

from .attrs import NAME_MAX, ROOT_INO, Attr, parse_attr, parse_attr_or_none
from .calls import connections_for
from .codec import CODECS, DEFAULT_CODEC
from .data import DataOps
from .errors import FsError, NoSuchFilesystem, UnsupportedFormat, translated
from .keys import POOL_RE, Keys
from .plain import PlainOps
from .scripts import FREEING, scripts_for
from .xattrs import XATTR_CREATE, XATTR_REPLACE, XattrOps

__all__ = ["XATTR_CREATE", "XATTR_REPLACE", "FileSystem"]

FORMAT_VERSION = 2
DEFAULT_BLOCK_SIZE = 128 * 1024  # measured: bench/blocksize.py
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def encode_name(name: str | bytes) -> bytes:
    """Validate one path component and return its bytes (names are raw bytes on disk)."""
    raw = os.fsencode(name)
    if not raw or raw in (b".", b"..") or b"/" in raw or b"\0" in raw:
        raise FsError(errno.EINVAL, f"invalid name {raw[:40]!r}")
    if len(raw) > NAME_MAX:
        raise FsError(errno.ENAMETOOLONG)
    return raw


def split_path(path: str | bytes) -> list[bytes]:
    """Components of an absolute path; '.' and empty parts are dropped."""
    raw = os.fsencode(path)
    parts = [p for p in raw.split(b"/") if p and p != b"."]
    for part in parts:
        if len(part) > NAME_MAX:
            raise FsError(errno.ENAMETOOLONG)
        if part == b"..":
            raise FsError(errno.EINVAL, "'..' is resolved by the kernel, not here")
    return parts


def now_ns() -> str:
    return str(time.time_ns())


class FileSystem(DataOps, XattrOps, PlainOps):
    """One filesystem (one prefix) on one Redis server.

    Thread-safe: share one instance between threads.  A read-only instance
    refuses every change with EROFS before sending anything to Redis, and reads with
    plain ``@read`` commands only (plain.py), so a minimal read-only ACL user works.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        read_only: bool = False,
        session_id: str | None = None,
    ) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.prefix = prefix
        self.read_only = read_only
        self.session_id = session_id or uuid.uuid4().hex[:16]
        self._s = scripts_for(client)
        self._calls = connections_for(client)
        self._ro_scripts = True  # EVALSHA_RO until the server says it lacks it
        # statfs asks INFO; read-only: only when the caller knows INFO is allowed
        self.memory_info = not read_only
        with translated():
            sb = client.hgetall(self.keys.superblock)
        if not sb:
            raise NoSuchFilesystem(prefix)
        damaged = FsError(errno.EUCLEAN, f"damaged superblock of filesystem {prefix!r}")
        try:
            version = int(sb.get(b"format_version", b"0"))
        except ValueError:
            raise damaged from None
        if version != FORMAT_VERSION:
            raise UnsupportedFormat(prefix, version, FORMAT_VERSION)
        if sb.get(b"incomplete"):
            raise FsError(errno.EBUSY, f"filesystem {prefix!r} is a snapshot still being "
                          "copied (or whose copy stopped): wait, or delete it")
        self.pool = sb.get(b"pool", b"").decode(errors="replace")
        if not POOL_RE.match(self.pool):
            raise damaged
        try:
            self.block_size = int(sb[b"block_size"])
        except (KeyError, ValueError):
            raise damaged from None
        if self.block_size <= 0:
            raise damaged
        self.codec = sb.get(b"codec", DEFAULT_CODEC.encode()).decode(errors="replace")
        self.uuid = sb.get(b"uuid", b"").decode(errors="replace")

    # -- creation -----------------------------------------------------------
    @classmethod
    def mkfs(
        cls,
        client: redis.Redis,
        prefix: str,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        codec: str = DEFAULT_CODEC,
        uid: int | None = None,
        gid: int | None = None,
        snapshot_of: str = "",
    ) -> FileSystem:
        """Create an empty filesystem (EEXIST if the prefix is taken)."""
        if codec not in CODECS:
            raise FsError(errno.EINVAL, f"unknown codec {codec!r}; choose from {sorted(CODECS)}")
        if block_size < 4096 or block_size > 4 * 1024 * 1024 or block_size & (block_size - 1):
            raise FsError(errno.EINVAL, "block size must be a power of two from 4 KiB to 4 MiB")
        keys = Keys(prefix)
        script = scripts_for(client).mkfs
        args = [keys.base, FORMAT_VERSION, block_size, codec, now_ns(), uuid.uuid4().hex,
                os.getuid() if uid is None else uid, os.getgid() if gid is None else gid,
                snapshot_of, os.urandom(8).hex()]
        with translated():
            script(keys=[keys.superblock], args=args)
        return cls(client, prefix)

    def superblock(self) -> dict[str, str]:
        with translated():
            raw = self.client.hgetall(self.keys.superblock)
        return {k.decode(): v.decode(errors="replace") for k, v in raw.items()}

    # -- helpers ------------------------------------------------------------
    def _writable(self) -> None:
        if self.read_only:
            raise FsError(errno.EROFS)

    def _run(self, script_name: str, *args: object) -> object:
        with translated():
            reply = self._calls.script(getattr(self._s, script_name),
                                       [self.keys.superblock], [self.keys.base, *args])
        if script_name not in FREEING:
            return reply
        reply, freed = reply
        self._free(freed)
        return reply

    def _run_read(self, script_name: str, *args: object) -> object:
        """Run a script that only reads with EVALSHA_RO (Redis 7), so a read-only ACL
        user or a replica accepts it; older servers get plain EVALSHA."""
        script = getattr(self._s, script_name)
        keys, args_ = [self.keys.superblock], [self.keys.base, *args]
        with translated():
            if self._ro_scripts:
                try:
                    return self._calls.script(script, keys, args_, read_only=True)
                except redis.ResponseError as exc:
                    if "unknown command" not in str(exc).lower():
                        raise
                    self._ro_scripts = False
            return self._calls.script(script, keys, args_)

    # -- lookup -------------------------------------------------------------
    def getattr(self, ino: int) -> Attr:
        with translated():
            raw = self.client.hgetall(self.keys.inode(ino))
        attr = parse_attr(ino, raw)
        if attr is None:
            raise FsError(errno.ENOENT, f"inode {ino}")
        return attr

    def getattrs(self, inos: list[int]) -> list[Attr | None]:
        """Attributes of many inodes in one pipelined round trip."""
        with translated():
            pipe = self.client.pipeline(transaction=False)
            for ino in inos:
                pipe.hgetall(self.keys.inode(ino))
            raws = pipe.execute()
        return [parse_attr(ino, raw) for ino, raw in zip(inos, raws, strict=True)]

    def lookup(self, parent: int, name: str | bytes) -> Attr:
        return self._resolve_from(parent, [encode_name(name)])

    def resolve(self, path: str | bytes) -> Attr:
        """Attributes of the inode at an absolute path, in one round trip."""
        return self._resolve_from(ROOT_INO, split_path(path))

    def _resolve_from(self, start: int, parts: list[bytes]) -> Attr:
        if self.read_only:
            return self._resolve_plain(start, parts)
        ino, raw = self._run_read("resolve", start, *parts)
        attr = parse_attr(int(ino), raw)
        if attr is None:
            raise FsError(errno.ENOENT)
        return attr

    def readlink(self, ino: int) -> bytes:
        attr = self.getattr(ino)
        if not attr.is_symlink or attr.target is None:
            raise FsError(errno.EINVAL, "not a symbolic link")
        return attr.target

    # -- directories ----------------------------------------------------------
    def readdir(self, ino: int, page_size: int = 1000) -> Iterator[list[tuple[bytes, int]]]:
        """Pages of (name, inode); a huge directory is never fetched in one reply.

        HSCAN may repeat an entry while the directory changes; repeats are dropped.  An
        entry whose value is not an inode number (damaged) comes with inode 0, which never
        exists: readdir_plus leaves it out and fsck reports it.
        """
        attr = self.getattr(ino)
        if not attr.is_dir:
            raise FsError(errno.ENOTDIR)
        key = self.keys.dirents(ino)
        cursor, seen = 0, set()
        while True:
            with translated():
                cursor, page = self.client.hscan(key, cursor, count=page_size)
            fresh = [(name, int(child) if child.isdigit() else 0)  # 0: damaged, see above
                     for name, child in page.items() if name not in seen]
            seen.update(name for name, _ in fresh)
            if fresh:
                yield fresh
            if cursor == 0:
                return

    def readdir_plus(self, ino: int, page_size: int = 1000, skipped: list[bytes] | None = None
                     ) -> Iterator[list[tuple[bytes, Attr]]]:
        """Pages of (name, attributes), one pipelined round trip each.  A damaged inode is
        left out (getattr says EUCLEAN), so it cannot make its whole directory unreadable;
        its name goes to ``skipped`` (a cache must not take the listing for complete)."""
        for page in self.readdir(ino, page_size):
            with translated():
                pipe = self.client.pipeline(transaction=False)
                for _, child in page:
                    pipe.hgetall(self.keys.inode(child))
                raws = pipe.execute()
            pairs = [(name, parse_attr_or_none(child, raw))
                     for (name, child), raw in zip(page, raws, strict=True)]
            if skipped is not None:
                skipped += [name for name, a in pairs if a is None]
            yield [(name, a) for name, a in pairs if a is not None]

    def names_if_few(self, ino: int, limit: int = 4096) -> set[bytes] | None:
        """Every name in a directory in one round trip, or None when it has more than
        about ``limit`` (HSCAN did not finish in one call).  Lets a mount answer "no
        such name" from memory while many files are created in one directory."""
        with translated():
            cursor, page = self.client.hscan(self.keys.dirents(ino), 0, count=limit)
        return set(page) if cursor == 0 else None

    def count_entries(self, ino: int) -> int:
        with translated():
            return int(self.client.hlen(self.keys.dirents(ino)))

    # -- creating names -------------------------------------------------------
    def mknod(
        self, parent: int, name: str | bytes, mode: int, uid: int = 0, gid: int = 0,
        rdev: int = 0, target: bytes = b"", open_handle: bool = False,
    ) -> Attr:
        """Create any kind of inode (regular, dir, fifo, device, socket, symlink)."""
        self._writable()
        raw = encode_name(name)
        if stat.S_IFMT(mode) == 0:
            mode |= stat.S_IFREG
        session = self.session_id if open_handle else ""
        now = now_ns()
        ino = int(self._run("mknode", parent, raw, mode, uid, gid, rdev, target, now, session))
        is_dir = stat.S_ISDIR(mode)
        t = int(now)
        return Attr(ino=ino, mode=mode, uid=uid, gid=gid, size=len(target),
                    nlink=2 if is_dir else 1, atime_ns=t, mtime_ns=t, ctime_ns=t, rdev=rdev,
                    parent=parent, target=target or None, open_count=1 if open_handle else 0)

    def create(self, parent: int, name: str | bytes, mode: int, uid: int = 0, gid: int = 0,
               open_handle: bool = True) -> Attr:
        """Create a regular file, registered as open (pair with release())."""
        return self.mknod(parent, name, stat.S_IFREG | (mode & 0o7777), uid, gid,
                          open_handle=open_handle)

    def mkdir(self, parent: int, name: str | bytes, mode: int = 0o755, uid: int = 0,
              gid: int = 0) -> Attr:
        return self.mknod(parent, name, stat.S_IFDIR | (mode & 0o7777), uid, gid)

    def symlink(self, parent: int, name: str | bytes, target: str | bytes, uid: int = 0,
                gid: int = 0) -> Attr:
        raw_target = os.fsencode(target)
        if not raw_target or len(raw_target) > 4095:
            raise FsError(errno.ENAMETOOLONG if raw_target else errno.ENOENT)
        return self.mknod(parent, name, stat.S_IFLNK | 0o777, uid, gid, target=raw_target)

    def link(self, ino: int, new_parent: int, new_name: str | bytes) -> Attr:
        self._writable()
        self._run("link", ino, new_parent, encode_name(new_name), now_ns())
        return self.getattr(ino)

    # -- removing and renaming -------------------------------------------------
    def unlink(self, parent: int, name: str | bytes, when_ns: int | None = None,
               expect: int | None = None) -> int:
        """Remove a non-directory name; returns the inode it pointed to.

        ``when_ns`` (default: now) becomes the parent's mtime/ctime; a caller that
        caches the parent's attributes passes it to know them without a read.
        ``expect``: the inode the caller believes the name holds; if it holds another
        (changed by another client), nothing happens and ESTALE says so.
        """
        self._writable()
        when = str(when_ns) if when_ns else now_ns()
        return int(self._run("unlink", parent, encode_name(name), when, 0, expect or ""))

    def rmdir(self, parent: int, name: str | bytes, when_ns: int | None = None,
              expect: int | None = None) -> int:
        self._writable()
        when = str(when_ns) if when_ns else now_ns()
        return int(self._run("unlink", parent, encode_name(name), when, 1, expect or ""))

    def rename(self, src_parent: int, src_name: str | bytes, dst_parent: int,
               dst_name: str | bytes, flags: int = 0,
               expect: tuple[int | None, int | None] = (None, None)) -> tuple[int, int | None]:
        """rename(2): replaces the target atomically; RENAME_NOREPLACE/EXCHANGE honoured.
        Returns the moved inode and the one that had the target name (None: none).
        ``expect``: the inodes the caller believes the source and target names hold
        (None: no belief); a name holding another inode gives ESTALE, nothing moves."""
        self._writable()
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or flags == 3:
            raise FsError(errno.EINVAL, "unsupported rename flags")
        moved, replaced = self._run("rename", src_parent, encode_name(src_name), dst_parent,
                                    encode_name(dst_name), flags, now_ns(),
                                    expect[0] or "", expect[1] or "")
        return int(moved), int(replaced) or None

    # -- attributes -------------------------------------------------------------
    def _setattr(self, ino: int, fields: list[object]) -> Attr:
        self._writable()
        raw = self._run("setattr", ino, now_ns(), *fields)
        attr = parse_attr(ino, raw)
        if attr is None:
            raise FsError(errno.ENOENT)
        return attr

    def chmod(self, ino: int, mode: int) -> Attr:
        return self._setattr(ino, ["perm", mode & 0o7777])

    def chown(self, ino: int, uid: int = -1, gid: int = -1) -> Attr:
        """-1 leaves that id unchanged, as chown(2) says."""
        fields: list[object] = []
        if uid != -1:
            fields += ["uid", uid]
        if gid != -1:
            fields += ["gid", gid]
        return self._setattr(ino, fields)

    def set_attributes(self, ino: int, changes: list[tuple[str, int]]) -> Attr:
        """Several changes at once: ('perm', bits), ('uid'|'gid', id), ('atime'|'mtime', ns)."""
        return self._setattr(ino, [v for pair in changes for v in pair])

    def utimens(self, ino: int, atime_ns: int | None, mtime_ns: int | None) -> Attr:
        """None leaves that time unchanged (UTIME_OMIT)."""
        fields: list[object] = []
        if atime_ns is not None:
            fields += ["atime", atime_ns]
        if mtime_ns is not None:
            fields += ["mtime", mtime_ns]
        return self._setattr(ino, fields)

    # -- open handles ---------------------------------------------------------------
    def open(self, ino: int, truncate: bool = False) -> Attr:
        """Register an open handle (none on a read-only instance: it writes nothing)."""
        return self.open_handle(ino, truncate)[0]

    def open_handle(self, ino: int, truncate: bool = False, writing: bool = True
                    ) -> tuple[Attr, bool]:
        """open(), also saying whether the handle was registered (only a registered
        handle may be released).  A read-only open on a server that turned into a
        replica under us, or that is full (no write fits, not even the handle count), is
        not registered but works, so reads go on."""
        if self.read_only:
            if truncate:
                raise FsError(errno.EROFS)
            return self.getattr(ino), False
        try:
            attr = parse_attr(ino, self._run("open", ino, self.session_id))
        except FsError as exc:
            if exc.errno not in (errno.EROFS, errno.ENOSPC) or writing or truncate:
                raise
            return self.getattr(ino), False
        if attr is None:
            raise FsError(errno.ENOENT)
        if truncate and attr.is_reg and attr.size:
            self.truncate(ino, 0)
        return attr, True

    def release(self, ino: int, count: int = 1) -> None:
        """Drop handles; the last close of an unlinked file frees it."""
        self.release_many([(ino, count)])

    def release_many(self, handles: list[tuple[int, int]]) -> None:
        """release() of several (inode, count) pairs in one round trip."""
        if self.read_only or not handles:
            return
        self._run("release", self.session_id, *[v for pair in handles for v in pair])

    def reap_session(self, session_id: str) -> int:
        """Release what a dead mount held; returns how many orphans were freed."""
        self._writable()
        return int(self._run("reap_session", session_id))
