"""Plain-text formatting shared by the views (no Textual, easy to test)."""

from __future__ import annotations

import datetime as dt
import errno
import grp
import os
import pwd
import re
import stat
from functools import cache

import humanize

from ..core import FsError

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders names as people read them: file2 before file10, case
    ignored.  Text and numbers alternate (text first), so every position compares like
    with like; the folded name breaks ties (file01 / file1)."""
    folded = name.casefold()
    parts = tuple(int(p) if i % 2 else p for i, p in enumerate(_DIGITS.split(folded)))
    return parts, folded


KIB = 1024


def size(n: int) -> str:
    """Binary units with one decimal: '512 B', '1.2 KiB', '1.0 GiB'."""
    if n < KIB:
        return f"{n} B"
    return humanize.naturalsize(n, binary=True, format="%.1f")


def ratio(logical: int, stored: int) -> str:
    """How many logical bytes each stored byte holds ('8.4x'); '-' when nothing is stored."""
    if stored <= 0:
        return "-" if logical <= 0 else "inf"
    value = logical / stored
    return f"{value:.1f}x" if value < 1000 else ">999x"  # sparse files: mostly holes


def ns_to_datetime(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)


def age(ns: int, now: dt.datetime) -> str:
    """'3 hours ago' relative to the app clock (fixed in tests)."""
    if ns <= 0:
        return "-"
    return humanize.naturaltime(ns_to_datetime(ns), when=now)


def timestamp(ns: int) -> str:
    """An absolute UTC time for detail panes."""
    if ns <= 0:
        return "-"
    return ns_to_datetime(ns).strftime("%Y-%m-%d %H:%M:%SZ")


def filemode(mode: int) -> str:
    return stat.filemode(mode)


@cache
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@cache
def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def owner(uid: int, gid: int) -> str:
    return f"{user_name(uid)}:{group_name(gid)}"


def kind(mode: int) -> str:
    """A word for the file type, for previews and confirmations."""
    return {
        stat.S_IFDIR: "directory", stat.S_IFREG: "file", stat.S_IFLNK: "symlink",
        stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device",
        stat.S_IFBLK: "block device",
    }.get(stat.S_IFMT(mode), "inode")


def decode_name(raw: bytes) -> str:
    """Names are bytes on Redis; show undecodable bytes the way the kernel hands them out."""
    return os.fsdecode(raw)


def error_text(exc: BaseException) -> str:
    """One line for a notification: never a traceback."""
    if isinstance(exc, FsError):
        return str(exc.strerror or exc)
    if isinstance(exc, OSError) and exc.errno:
        name = errno.errorcode.get(exc.errno, "")
        detail = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{detail}{where}" + (f" [{name}]" if name else "")
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if str(exc) else text


def parse_mode(text: str) -> int:
    """Octal permission bits as chmod accepts them ('644', '0755', '4755')."""
    text = text.strip()
    if not text or len(text) > 5 or any(c not in "01234567" for c in text):
        raise ValueError("give octal permissions such as 644 or 0755")
    return int(text, 8) & 0o7777
