"""Inode attributes as stored in the ``i:<ino>`` hash, and their parsing."""

from __future__ import annotations

import errno
import stat
from dataclasses import dataclass

from .errors import FsError

ROOT_INO = 1
NAME_MAX = 255
FIELDS = ("mode", "uid", "gid", "size", "nlink", "atime", "mtime", "ctime", "rdev", "parent")


@dataclass(frozen=True, slots=True)
class Attr:
    """One inode's attributes (times in nanoseconds since the epoch)."""

    ino: int
    mode: int
    uid: int
    gid: int
    size: int
    nlink: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    rdev: int = 0
    parent: int = 0
    target: bytes | None = None
    open_count: int = 0

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_reg(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def blocks_512(self) -> int:
        """st_blocks: 512-byte units, as du expects."""
        return (self.size + 511) // 512 if self.is_reg else 0

    def but(self, **changes: int | bytes | None) -> Attr:
        """A copy with some fields changed: dataclasses.replace without its per-call
        field introspection (half the time; the mount does this for every change)."""
        return Attr(*[changes[name] if name in changes else getattr(self, name)
                      for name in _ATTR_FIELDS])


_ATTR_FIELDS = tuple(Attr.__dataclass_fields__)


_FILE_TYPES = frozenset((stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, stat.S_IFIFO, stat.S_IFCHR,
                         stat.S_IFBLK, stat.S_IFSOCK))


def valid_mode(mode: int) -> bool:
    """A st_mode that fits mode_t and names one of the seven file types."""
    return 0 <= mode <= 0xFFFF_FFFF and (mode & 0o170000) in _FILE_TYPES


def parse_attr(ino: int, raw: dict[bytes, bytes] | list[bytes]) -> Attr | None:
    """Build an Attr from HGETALL output (a dict, or the flat list a Lua script returns)."""
    if isinstance(raw, list):
        raw = dict(zip(raw[0::2], raw[1::2], strict=False))
    if not raw or b"mode" not in raw:
        return None

    def num(field: bytes) -> int:
        value = raw.get(field)
        if value is None:
            return 0
        try:
            return int(value)
        except ValueError:
            # hostile or damaged contents: report like ext4 does, never crash
            detail = f"inode {ino}: field {field.decode()} is not a number"
            raise FsError(errno.EUCLEAN, detail) from None

    mode = num(b"mode")
    if not valid_mode(mode):
        # a negative or unknown-type mode would crash stat.S_IS*() or confuse the kernel
        raise FsError(errno.EUCLEAN, f"inode {ino}: mode {mode} is not a file mode")
    return Attr(
        ino=ino,
        mode=mode,
        uid=num(b"uid"),
        gid=num(b"gid"),
        size=num(b"size"),
        nlink=num(b"nlink"),
        atime_ns=num(b"atime"),
        mtime_ns=num(b"mtime"),
        ctime_ns=num(b"ctime"),
        rdev=num(b"rdev"),
        parent=num(b"parent"),
        target=raw.get(b"target"),
        open_count=num(b"open"),
    )


def parse_attr_or_none(ino: int, raw: dict[bytes, bytes]) -> Attr | None:
    """parse_attr, with a damaged inode as None (a listing leaves it out)."""
    try:
        return parse_attr(ino, raw)
    except FsError:
        return None


def counter(raw: bytes | None) -> int:
    """A superblock counter, 0 when missing, negative or not a number (fsck reports it)."""
    try:
        return max(int(raw or 0), 0)
    except ValueError:
        return 0
