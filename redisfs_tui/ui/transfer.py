"""Copy files and trees between a redisfs filesystem and the local disk.

Runs in a worker thread (no Textual here).  Both directions plan first (so
progress has a total), report bytes as they go, check a cancel flag between
chunks, keep holes sparse, and carry permissions and modification times.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass
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

    def summary(self) -> str:
        parts = [f"{self.files} files", f"{self.dirs} directories"]
        if self.links:
            parts.append(f"{self.links} symlinks")
        if self.skipped:
            parts.append(f"{self.skipped} special files skipped")
        return ", ".join(parts)


def _plan_remote(fs: FileSystem, attr: Attr, rel: str) -> list[tuple[str, Attr]]:
    """Every inode under ``attr`` (depth first, parents before children)."""
    out = [(rel, attr)]
    stack = [(rel, attr)]
    while stack:
        path, node = stack.pop()
        if not node.is_dir:
            continue
        for page in fs.readdir_plus(node.ino):
            for raw, child in sorted(page, key=lambda item: item[0]):
                child_rel = posixpath.join(path, os.fsdecode(raw))
                out.append((child_rel, child))
                stack.append((child_rel, child))
    return out


def copy_out(fs: FileSystem, attr: Attr, name: str, dest_dir: str, progress: Progress,
             cancelled: Cancelled) -> TransferResult:
    """Copy the file or tree ``attr`` (called ``name``) into local ``dest_dir``."""
    if not os.path.isdir(dest_dir):
        raise FsError(errno.ENOTDIR, f"{dest_dir} is not a local directory")
    if os.path.lexists(os.path.join(dest_dir, name)):
        raise FsError(errno.EEXIST, f"{os.path.join(dest_dir, name)} already exists")
    plan = _plan_remote(fs, attr, name)
    total = sum(a.size for _, a in plan if a.is_reg)
    result = TransferResult()
    dirs: list[tuple[str, Attr]] = []
    for rel, node in plan:
        if cancelled():
            raise TransferCancelled(result.summary())
        local = os.path.join(dest_dir, rel)
        if node.is_dir:
            os.makedirs(local, exist_ok=True)
            dirs.append((local, node))
            result.dirs += 1
        elif node.is_symlink:
            os.symlink(fs.readlink(node.ino), local)
            result.links += 1
        elif node.is_reg:
            _download(fs, node, local, result, total, progress, cancelled, rel)
            result.files += 1
        else:
            result.skipped += 1
    for local, node in reversed(dirs):  # children first: writing into a dir bumps its mtime
        os.chmod(local, stat.S_IMODE(node.mode) | 0o700)
        os.utime(local, ns=(node.atime_ns, node.mtime_ns))
    return result


def _download(fs: FileSystem, node: Attr, local: str, result: TransferResult, total: int,
              progress: Progress, cancelled: Cancelled, rel: str) -> None:
    with open(local, "wb") as out:
        offset = 0
        while offset < node.size:
            if cancelled():
                raise TransferCancelled(result.summary())
            data = fs.read(node.ino, offset, min(CHUNK, node.size - offset))
            if not data:
                break
            _write_sparse(out, data)
            offset += len(data)
            result.bytes += len(data)
            progress(result.bytes, total, rel)
        out.truncate(node.size)
    os.chmod(local, stat.S_IMODE(node.mode))
    os.utime(local, ns=(node.atime_ns, node.mtime_ns))


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
    deleted tree (every step is one atomic script).
    """
    top = fs.lookup(parent, name)
    plan = _plan_remote(fs, top, os.fsdecode(name))
    inos = {rel: attr.ino for rel, attr in plan}
    removed = 0
    for rel, attr in reversed(plan):
        if cancelled():
            raise TransferCancelled(f"{removed} of {len(plan)} entries")
        head, base = posixpath.split(rel)
        dir_ino = inos[head] if head else parent
        if attr.is_dir:
            fs.rmdir(dir_ino, base)
        else:
            fs.unlink(dir_ino, base)
        removed += 1
        progress(removed, len(plan), rel)
    return removed
