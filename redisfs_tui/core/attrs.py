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

    return Attr(
        ino=ino,
        mode=num(b"mode"),
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
