"""Open a file of the filesystem in $PAGER or $EDITOR (no Textual here).

The whole file is copied to a private temp file (not only the preview's first
64 KiB); after the editor exits, the file is written back only if the temp
file changed, and only if the file in Redis did not change meanwhile (its
mtime, ctime and size as read before the copy): otherwise the edit is kept in
the temp file and the caller says where.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass

from ..core import Attr, FileSystem, FsError
from .transfer import CHUNK, Cancelled, Progress, TransferCancelled, safe_local_name


def command(kind: str) -> list[str]:
    """The user's pager (``$PAGER``, else ``less``) or editor (``$VISUAL``, ``$EDITOR``,
    else ``vi``) as argv, without the file."""
    if kind == "pager":
        value = os.environ.get("PAGER") or "less"
    else:
        value = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    argv = shlex.split(value)
    if not argv:
        raise FsError(errno.EINVAL, f"${kind.upper()} is empty")
    return argv


@dataclass
class LocalCopy:
    """A file copied out for a pager or editor, and what it was when copied."""

    path: str
    ino: int
    before: Attr
    digest: str

    def stamp(self) -> tuple[int, int, int]:
        return (self.before.mtime_ns, self.before.ctime_ns, self.before.size)

    def changed_locally(self) -> bool:
        return _digest(self.path) != self.digest

    def discard(self) -> None:
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fetch(fs: FileSystem, ino: int, name: bytes, progress: Progress, cancelled: Cancelled,
          read_only: bool = False) -> LocalCopy:
    """Copy the whole regular file ``ino`` to a new private temp directory."""
    before = fs.getattr(ino)
    if not before.is_reg:
        raise FsError(errno.EINVAL, "only regular files open in a pager or editor")
    folder = tempfile.mkdtemp(prefix="redisfs-")
    path = os.path.join(folder, os.fsdecode(name) if safe_local_name(name) else "file")
    h = hashlib.sha256()
    try:
        with open(path, "xb") as out:
            offset = 0
            while offset < before.size:
                if cancelled():
                    raise TransferCancelled(f"{offset:,} of {before.size:,} bytes")
                data = fs.read(ino, offset, min(CHUNK, before.size - offset))
                if not data:
                    break
                out.write(data)
                h.update(data)
                offset += len(data)
                progress(offset, before.size, os.path.basename(path))
        os.chmod(path, 0o400 if read_only else 0o600)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return LocalCopy(path, ino, before, h.hexdigest())


def store_back(fs: FileSystem, copy: LocalCopy) -> int:
    """Write the edited temp file over the file in Redis; returns its new size.

    Refuses (FsError EBUSY, the temp file kept) when the file in Redis changed since
    :func:`fetch` (another client wrote, truncated or replaced it).
    """
    try:
        now = fs.getattr(copy.ino)
    except FsError as exc:
        raise FsError(exc.errno, f"the file is gone from Redis; your version is kept in "
                      f"{copy.path}") from exc
    if (now.mtime_ns, now.ctime_ns, now.size) != copy.stamp():
        raise FsError(errno.EBUSY, f"the file changed in Redis while you edited it; "
                      f"nothing was written, your version is kept in {copy.path}")
    size = os.path.getsize(copy.path)
    with open(copy.path, "rb") as src:  # over the old bytes, then cut to the new size
        offset = 0
        while chunk := src.read(CHUNK):
            fs.write(copy.ino, offset, chunk)
            offset += len(chunk)
    fs.truncate(copy.ino, size)
    return size
