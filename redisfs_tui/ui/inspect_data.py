"""How the inspector explains raw inode fields to a person (the Redis reads are
in core/inspect.py)."""

from __future__ import annotations

import stat

from ..core import FileSystem
from ..core import inspect as core_inspect
from ..core.inspect import MAX_BLOCKS, MAX_ENTRIES, MAX_SCAN_BLOCKS, InodeReport, KeyReport
from . import fmt

__all__ = ["MAX_SCAN_BLOCKS", "InodeReport", "KeyReport", "inode_report", "meaning"]
TIME_FIELDS = {"atime", "mtime", "ctime"}


def meaning(name: str, raw: bytes) -> str:
    """A human reading of an inode hash field."""
    try:
        number = int(raw)
    except ValueError:
        return ""
    if name == "mode":
        return f"{stat.filemode(number)} {fmt.kind(number)}"
    if name in TIME_FIELDS:
        return fmt.timestamp(number)
    if name == "size":
        return fmt.size(number)
    if name in ("uid", "gid"):
        return fmt.user_name(number) if name == "uid" else fmt.group_name(number)
    return ""


def inode_report(fs: FileSystem, ino: int, max_entries: int = MAX_ENTRIES,
                 max_blocks: int = MAX_BLOCKS) -> InodeReport:
    """The core's report with every inode field explained."""
    return core_inspect.inode_report(fs, ino, max_entries, max_blocks, describe=meaning)
