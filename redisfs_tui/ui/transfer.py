"""Copy files and trees between a redisfs filesystem and the local disk.

Runs in a worker thread (no Textual here).  Both directions plan first (so
progress has a total), report bytes as they go, check a cancel flag between
chunks, keep holes sparse, and carry permissions and modification times.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..core import Attr, FileSystem, FsError

CHUNK = 4 * 1024 * 1024
SPARSE_PIECE = 64 * 1024  # granularity at which zero runs become holes on the local disk
Progress = Callable[[int, int, str], None]
Cancelled = Callable[[], bool]


class TransferCancelled(Exception):
    """The user pressed cancel; what was copied so far stays."""


@dataclass
class TransferResult:
    files: int = 0
    dirs: int = 0
    links: int = 0
    skipped: int = 0
    bytes: int = 0
    rejected: list[str] = field(default_factory=list)  # names not safe to write locally
    loops: list[str] = field(default_factory=list)  # directories reached a second time
    replaced: int = 0  # local files removed to be written anew (the user said overwrite)

    def add(self, other: TransferResult) -> None:
        """Count ``other`` in too (several entries copied as one job)."""
        for name in ("files", "dirs", "links", "skipped", "bytes", "replaced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected += other.rejected
        self.loops += other.loops

    def summary(self) -> str:
        parts = [f"{self.files} files", f"{self.dirs} directories"]
        if self.links:
            parts.append(f"{self.links} symlinks")
        if self.skipped:
            parts.append(f"{self.skipped} special files skipped")
        if self.replaced:
            parts.append(f"{self.replaced} existing files replaced")
        if self.rejected:
            parts.append(f"{len(self.rejected)} unsafe names refused "
                         f"({', '.join(self.rejected[:3])})")
        if self.loops:
            parts.append(f"{len(self.loops)} directory loops not followed "
                         f"({', '.join(self.loops[:3])}): run fsck")
        return ", ".join(parts)


def safe_local_name(raw: bytes) -> bool:
    """One path component that cannot climb out of its directory: not empty, '.' or
    '..', no '/' and no NUL (a damaged or hostile directory may hold any bytes)."""
    return bool(raw) and raw not in (b".", b"..") and b"/" not in raw and b"\0" not in raw \
        and len(raw) <= 255


def _shown(parts: tuple[str, ...], raw: bytes) -> str:
    return "/".join((*parts, repr(os.fsdecode(raw))))


@dataclass(frozen=True)
class PlanItem:
    """One inode to copy or delete: its path below the destination (one checked name
    per level), and its name in its remote parent directory."""

    parts: tuple[str, ...]
    parent: int
    raw: bytes
    attr: Attr

    @property
    def rel(self) -> str:
        return "/".join(self.parts)


@dataclass
class RemotePlan:
    items: list[PlanItem]
    rejected: list[str] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(i.attr.size for i in self.items if i.attr.is_reg)


def plan_remote(fs: FileSystem, attr: Attr, parent: int, raw: bytes, cancelled: Cancelled,
                check_names: bool = True) -> RemotePlan:
    """Every inode under ``attr`` (depth first, parents before children, the children of
    a directory next to each other).

    A directory is entered once: a name leading back to a directory already seen (a
    loop, which only damage makes) is recorded in ``loops`` and not followed, so a loop
    cannot make the plan grow without bound.  With ``check_names`` a name that is not
    one safe path component is recorded in ``rejected`` and left out.  ``cancelled``
    is checked for every directory.
    """
    name = os.fsdecode(raw)
    plan = RemotePlan([])
    if check_names and not safe_local_name(raw):
        plan.rejected.append(repr(name))
        return plan
    top = PlanItem((name,), parent, raw, attr)
    plan.items.append(top)
    seen = {attr.ino} if attr.is_dir else set()
    stack = [top]
    while stack:
        item = stack.pop()
        if not item.attr.is_dir:
            continue
        if cancelled():
            raise TransferCancelled(f"planning, {len(plan.items):,} entries found")
        for page in fs.readdir_plus(item.attr.ino):
            for child_raw, child in sorted(page, key=lambda pair: pair[0]):
                if check_names and not safe_local_name(child_raw):
                    plan.rejected.append(_shown(item.parts, child_raw))
                    continue
                child_item = PlanItem((*item.parts, os.fsdecode(child_raw)), item.attr.ino,
                                      child_raw, child)
                if child.is_dir:
                    if child.ino in seen:
                        plan.loops.append(child_item.rel)
                        continue
                    seen.add(child.ino)
                plan.items.append(child_item)
                stack.append(child_item)
    return plan


def local_conflicts(plan: RemotePlan, dest_dir: str, limit: int = 1000) -> list[str]:
    """Paths the copy would replace: anything that exists where the plan writes, except
    a real directory where the plan makes a directory (that is merged into)."""
    out = []
    for item in plan.items:
        local = os.path.join(dest_dir, *item.parts)
        try:
            st = os.lstat(local)
        except OSError:
            continue
        if item.attr.is_dir and stat.S_ISDIR(st.st_mode):
            continue
        out.append(item.rel)
        if len(out) >= limit:
            break
    return out


class _DirFds:
    """Directory fds below the destination, each opened with O_NOFOLLOW relative to
    its parent, so nothing is ever written through a symlink; keeps the last one."""

    def __init__(self, dest_dir: str) -> None:
        self.root = os.open(dest_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._parts: tuple[str, ...] | None = None
        self._fd = -1

    def open(self, parts: tuple[str, ...]) -> int:
        if parts == self._parts:
            return self._fd
        self._drop()
        fd = self.root
        try:
            for name in parts:
                nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=fd)
                if fd != self.root:
                    os.close(fd)
                fd = nxt
        except OSError:
            if fd != self.root:
                os.close(fd)
            raise
        self._parts, self._fd = parts, fd
        return fd

    def _drop(self) -> None:
        if self._fd not in (-1, self.root):
            os.close(self._fd)
        self._parts, self._fd = None, -1

    def close(self) -> None:
        self._drop()
        os.close(self.root)


def _make_room(dir_fd: int, name: str, want_dir: bool, overwrite: bool,
               result: TransferResult, rel: str) -> bool:
    """Clear the way for ``name``: True when it may be created (or, for a directory,
    an existing real directory reused).  Never follows a symlink: one in the way is
    removed like a file (with ``overwrite``), its target is left alone."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return True
    if stat.S_ISDIR(st.st_mode):
        if want_dir:
            return True
        raise FsError(errno.EISDIR, f"{rel}: a local directory is in the way")
    if not overwrite:
        raise FsError(errno.EEXIST, f"{rel} already exists")
    os.unlink(name, dir_fd=dir_fd)  # a new inode: never write into another name's file
    result.replaced += 1
    return True


def copy_out(fs: FileSystem, attr: Attr, name: str, dest_dir: str, progress: Progress,
             cancelled: Cancelled, overwrite: bool = False, parent: int = 0,
             plan: RemotePlan | None = None) -> TransferResult:
    """Copy the file or tree ``attr`` (called ``name``) into local ``dest_dir``.

    Every local name is one checked path component created relative to its parent
    directory's fd (opened with O_NOFOLLOW): names such as ``..`` or ``a/b`` are
    refused and reported, symlinks (in the tree or already on the local disk) are
    never followed, and an existing file is only replaced with ``overwrite`` (the UI
    asks first, listing :func:`local_conflicts`).
    """
    if not os.path.isdir(dest_dir):
        raise FsError(errno.ENOTDIR, f"{dest_dir} is not a local directory")
    if plan is None:
        plan = plan_remote(fs, attr, parent, os.fsencode(name), cancelled)
    result = TransferResult(rejected=list(plan.rejected), loops=list(plan.loops))
    total = plan.total
    dirs: list[tuple[tuple[str, ...], Attr]] = []
    fds = _DirFds(dest_dir)
    try:
        for item in plan.items:
            if cancelled():
                raise TransferCancelled(result.summary())
            node, leaf = item.attr, item.parts[-1]
            dir_fd = fds.open(item.parts[:-1])
            if node.is_dir:
                _make_room(dir_fd, leaf, True, overwrite, result, item.rel)
                if not _is_dir(dir_fd, leaf):
                    os.mkdir(leaf, 0o700, dir_fd=dir_fd)
                dirs.append((item.parts, node))
                result.dirs += 1
            elif node.is_symlink:
                _make_room(dir_fd, leaf, False, overwrite, result, item.rel)
                os.symlink(fs.readlink(node.ino), leaf, dir_fd=dir_fd)
                result.links += 1
            elif node.is_reg:
                _make_room(dir_fd, leaf, False, overwrite, result, item.rel)
                _download(fs, node, dir_fd, leaf, result, total, progress, cancelled,
                          item.rel)
                result.files += 1
            else:
                result.skipped += 1
        for parts, node in reversed(dirs):  # children first: writing into a dir bumps mtime
            fd = os.open(parts[-1], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=fds.open(parts[:-1]))
            try:
                os.fchmod(fd, stat.S_IMODE(node.mode) | 0o700)
                os.utime(fd, ns=(node.atime_ns, node.mtime_ns))
            finally:
                os.close(fd)
    finally:
        fds.close()
    return result


def _is_dir(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(name, dir_fd=dir_fd).st_mode)
    except FileNotFoundError:
        return False


def file_chunks(fs: FileSystem, node: Attr, result: TransferResult, total: int,
                progress: Progress, cancelled: Cancelled, rel: str) -> Iterator[tuple[int, bytes]]:
    """(offset, data) of a stored file, CHUNK at a time, counting bytes and progress as
    the caller takes them; TransferCancelled when asked to stop."""
    offset = 0
    while offset < node.size:
        if cancelled():
            raise TransferCancelled(result.summary())
        data = fs.read(node.ino, offset, min(CHUNK, node.size - offset))
        if not data:
            break
        yield offset, data
        offset += len(data)
        result.bytes += len(data)
        progress(result.bytes, total, rel)


def _download(fs: FileSystem, node: Attr, dir_fd: int, leaf: str, result: TransferResult,
              total: int, progress: Progress, cancelled: Cancelled, rel: str) -> None:
    fd = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=dir_fd)
    with open(fd, "wb") as out:
        for _offset, data in file_chunks(fs, node, result, total, progress, cancelled, rel):
            _write_sparse(out, data)
        out.truncate(node.size)
        out.flush()
        os.fchmod(out.fileno(), stat.S_IMODE(node.mode))
        os.utime(out.fileno(), ns=(node.atime_ns, node.mtime_ns))


def _write_sparse(out: BinaryIO, data: bytes) -> None:
    """Write ``data``, seeking over zero-filled pieces so holes stay holes."""
    view = memoryview(data)
    for start in range(0, len(data), SPARSE_PIECE):
        piece = view[start:start + SPARSE_PIECE]
        if piece.tobytes().count(0) == len(piece):
            out.seek(len(piece), os.SEEK_CUR)
        else:
            out.write(piece)


def _plan_local(sources: list[str]) -> tuple[list[tuple[str, str]], int]:
    """(local path, path relative to the target dir) pairs and the byte total."""
    plan: list[tuple[str, str]] = []
    total = 0
    for src in sources:
        src = os.path.abspath(src)
        if not os.path.lexists(src):
            raise FsError(errno.ENOENT, f"{src} does not exist")
        base = os.path.basename(src.rstrip("/")) or src
        plan.append((src, base))
        if os.path.isdir(src) and not os.path.islink(src):
            for root, dirnames, filenames in os.walk(src):
                dirnames.sort()
                for entry in sorted(dirnames) + sorted(filenames):
                    path = os.path.join(root, entry)
                    plan.append((path, os.path.join(base, os.path.relpath(path, src))))
    for path, _rel in plan:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            total += st.st_size
    return plan, total


def copy_in(fs: FileSystem, parent: int, sources: list[str], progress: Progress,
            cancelled: Cancelled) -> TransferResult:
    """Copy local files or trees into directory inode ``parent``."""
    plan, total = _plan_local(sources)
    result = TransferResult()
    inos: dict[str, int] = {"": parent}
    stamps: list[tuple[int, os.stat_result]] = []
    for local, rel in plan:
        if cancelled():
            raise TransferCancelled(result.summary())
        st = os.lstat(local)
        dir_ino = inos[os.path.dirname(rel)]
        name = os.path.basename(rel)
        if stat.S_ISDIR(st.st_mode):
            inos[rel] = fs.mkdir(dir_ino, name, stat.S_IMODE(st.st_mode), st.st_uid,
                                 st.st_gid).ino
            stamps.append((inos[rel], st))
            result.dirs += 1
        elif stat.S_ISLNK(st.st_mode):
            ino = fs.symlink(dir_ino, name, os.readlink(local), st.st_uid, st.st_gid).ino
            result.links += 1
        elif stat.S_ISREG(st.st_mode):
            ino = _upload(fs, dir_ino, name, local, st, result, total, progress, cancelled, rel)
            stamps.append((ino, st))
            result.files += 1
        else:
            result.skipped += 1
    for ino, st in reversed(stamps):
        fs.utimens(ino, st.st_atime_ns, st.st_mtime_ns)
    return result


def _upload(fs: FileSystem, dir_ino: int, name: str, local: str, st: os.stat_result,
            result: TransferResult, total: int, progress: Progress, cancelled: Cancelled,
            rel: str) -> int:
    ino = fs.create(dir_ino, name, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid).ino
    try:
        with open(local, "rb") as src:
            offset = 0
            while chunk := src.read(CHUNK):
                if cancelled():
                    raise TransferCancelled(result.summary())
                if chunk.count(0) != len(chunk):
                    fs.write(ino, offset, chunk)
                offset += len(chunk)
                result.bytes += len(chunk)
                progress(result.bytes, total, rel)
        if offset:
            fs.truncate(ino, offset)  # a trailing hole still sets the size
    finally:
        fs.release(ino)
    return ino


def remove_tree(fs: FileSystem, parent: int, name: bytes, progress: Progress,
                cancelled: Cancelled) -> int:
    """Delete ``name`` in ``parent`` and everything below it; returns names removed.

    Children go before their directory; a cancel leaves a consistent, partly
    deleted tree (every step is one atomic script).  A directory loop (damage) is
    refused before anything is deleted: fsck repairs it.
    """
    top = fs.lookup(parent, name)
    plan = plan_remote(fs, top, parent, name, cancelled, check_names=False)
    if plan.loops:
        raise FsError(errno.ELOOP, f"directory loop at {plan.loops[0]}: nothing deleted; "
                      "run fsck (repair) first")
    removed = 0
    total = len(plan.items)
    for item in reversed(plan.items):
        if cancelled():
            raise TransferCancelled(f"{removed} of {total} entries")
        if item.attr.is_dir:
            fs.rmdir(item.parent, item.raw)
        else:
            fs.unlink(item.parent, item.raw)
        removed += 1
        progress(removed, total, item.rel)
    return removed
