"""Copy and move entries inside one redisfs filesystem (no Textual here).

Moving is ``rename`` (atomic; the core refuses a directory moved below itself).
Copying plans the tree first with :func:`.transfer.plan_remote`, which enters
every directory once (a loop, which only damage makes, is reported and not
followed), refuses a destination inside the tree being copied, reports bytes
as it goes, checks the cancel flag between entries and chunks, keeps holes,
hard links inside the tree, permissions, owners, times and extended attributes.
"""

from __future__ import annotations

import errno
import posixpath
from dataclasses import dataclass

from ..core import RENAME_NOREPLACE, Attr, FileSystem, FsError
from ..core.fs import encode_name
from .transfer import (
    Cancelled,
    Progress,
    RemotePlan,
    TransferCancelled,
    TransferResult,
    file_chunks,
    plan_remote,
)


@dataclass(frozen=True)
class Source:
    """One entry to copy or move: its directory inode, its raw name, its attributes."""

    parent: int
    raw: bytes
    attr: Attr


@dataclass(frozen=True)
class Destination:
    """Where entries go: a directory (path and inode) and, for one entry, a new name."""

    dir_path: str
    dir_ino: int
    name: bytes | None  # None: each entry keeps its name


def destination(fs: FileSystem, cwd: str, text: str, many: bool) -> Destination:
    """Read what the user typed: a path absolute or relative to ``cwd``.

    An existing directory (or a path ending in '/') receives the entries under their
    own names; otherwise (one entry only) the last component is the new name in its
    parent directory, which must exist.
    """
    text = text.strip()
    if not text:
        raise FsError(errno.EINVAL, "no destination given")
    target = posixpath.normpath(posixpath.join(cwd, text))
    if target.startswith("//"):
        target = "/" + target.lstrip("/")
    try:
        attr = fs.resolve(target)
    except FsError as exc:
        if exc.errno != errno.ENOENT:
            raise
        attr = None
    if attr is not None and attr.is_dir:
        return Destination(target, attr.ino, None)
    if text.endswith("/") or many:
        raise FsError(errno.ENOTDIR, f"{target} is not a directory")
    if attr is not None:
        raise FsError(errno.EEXIST, f"{target} already exists")
    parent, name = posixpath.split(target)
    try:
        parent_attr = fs.resolve(parent or "/")
    except FsError as exc:
        raise FsError(exc.errno, f"{parent}: {exc.strerror}") from exc
    if not parent_attr.is_dir:
        raise FsError(errno.ENOTDIR, f"{parent} is not a directory")
    return Destination(parent or "/", parent_attr.ino, encode_name(name))


def move(fs: FileSystem, sources: list[Source], dest: Destination) -> tuple[int, list[str]]:
    """Rename each source into ``dest`` (never replacing a name there).  Returns how many
    moved and, for the others, 'name: reason'."""
    moved, failed = 0, []
    for src in sources:
        name = dest.name if dest.name is not None else src.raw
        try:
            fs.rename(src.parent, src.raw, dest.dir_ino, name, RENAME_NOREPLACE,
                      expect=(src.attr.ino, None))
        except FsError as exc:
            shown = src.raw.decode(errors="replace")
            reason = ("cannot move a directory into itself" if exc.errno == errno.EINVAL
                      else exc.strerror or str(exc))
            failed.append(f"{shown}: {reason}")
        else:
            moved += 1
    return moved, failed


def plan_copy(fs: FileSystem, sources: list[Source], dest: Destination,
              cancelled: Cancelled) -> list[RemotePlan]:
    """Plan every source; refuse (nothing copied) a destination inside a copied tree or
    a name that already exists there."""
    plans = [plan_remote(fs, s.attr, s.parent, s.raw, cancelled, check_names=False)
             for s in sources]
    for src, plan in zip(sources, plans, strict=True):
        dirs = {item.attr.ino for item in plan.items if item.attr.is_dir}
        if dest.dir_ino in dirs:
            raise FsError(errno.EINVAL, f"cannot copy {src.raw.decode(errors='replace')} "
                          f"into itself ({dest.dir_path} is inside it)")
        name = dest.name if dest.name is not None else src.raw
        try:
            fs.lookup(dest.dir_ino, name)
        except FsError as exc:
            if exc.errno != errno.ENOENT:
                raise
        else:
            where = posixpath.join(dest.dir_path, name.decode(errors="replace"))
            raise FsError(errno.EEXIST, f"{where} already exists")
    return plans


def copy(fs: FileSystem, sources: list[Source], dest: Destination, progress: Progress,
         cancelled: Cancelled, plans: list[RemotePlan] | None = None) -> TransferResult:
    """Copy each source (file or tree) into ``dest``."""
    if plans is None:
        plans = plan_copy(fs, sources, dest, cancelled)
    result = TransferResult()
    total = sum(p.total for p in plans)
    copied: dict[int, int] = {}  # source inode -> its copy (hard links stay links)
    stamps: list[tuple[int, Attr]] = []
    for src, plan in zip(sources, plans, strict=True):
        result.loops += plan.loops
        inos: dict[tuple[str, ...], int] = {}
        for index, item in enumerate(plan.items):
            if cancelled():
                raise TransferCancelled(result.summary())
            node = item.attr
            if index == 0:
                parent = dest.dir_ino
                name = dest.name if dest.name is not None else src.raw
            else:
                parent, name = inos[item.parts[:-1]], item.raw
            if not node.is_dir and node.nlink > 1 and node.ino in copied:
                fs.link(copied[node.ino], parent, name)
                result.files += node.is_reg
                continue
            if node.is_dir:
                new = fs.mkdir(parent, name, node.mode, node.uid, node.gid).ino
                inos[item.parts] = new
                result.dirs += 1
            elif node.is_symlink:
                new = fs.symlink(parent, name, fs.readlink(node.ino), node.uid, node.gid).ino
                result.links += 1
            elif node.is_reg:
                new = _copy_file(fs, node, parent, name, result, total, progress, cancelled,
                                 item.rel)
                result.files += 1
            else:
                new = fs.mknod(parent, name, node.mode, node.uid, node.gid, node.rdev).ino
            copied[node.ino] = new
            copy_xattrs(fs, node.ino, new)
            if not node.is_symlink:
                stamps.append((new, node))
    for ino, node in reversed(stamps):  # children first: creating names bumps a dir's mtime
        fs.utimens(ino, node.atime_ns, node.mtime_ns)
    return result


def copy_xattrs(fs: FileSystem, source: int, target: int) -> None:
    """Give ``target`` every extended attribute of ``source`` (a copy is the same file:
    its tags, ACLs and labels come along, as with ``cp -a``)."""
    for name in fs.listxattr(source):
        try:
            value = fs.getxattr(source, name)
        except FsError as exc:
            if exc.errno == errno.ENODATA:  # removed meanwhile
                continue
            raise
        fs.setxattr(target, name, value)


def _copy_file(fs: FileSystem, node: Attr, parent: int, name: bytes, result: TransferResult,
               total: int, progress: Progress, cancelled: Cancelled, rel: str) -> int:
    ino = fs.create(parent, name, node.mode, node.uid, node.gid).ino
    try:
        for offset, data in file_chunks(fs, node, result, total, progress, cancelled, rel):
            if data.count(0) != len(data):  # a zero run stays a hole
                fs.write(ino, offset, data)
        if node.size:
            fs.truncate(ino, node.size)
    finally:
        fs.release(ino)
    return ino
