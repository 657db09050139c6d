"""Directory entries as the browser holds them: sorting, filtering, lazy formatting.

A directory may have 100k names, so the list keeps cheap sort keys and formats
a row's cells only when it is first drawn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from ..core import Attr
from . import fmt


class SortKey(StrEnum):
    NAME = "name"
    SIZE = "size"
    MTIME = "mtime"

    def next(self) -> SortKey:
        order = list(SortKey)
        return order[(order.index(self) + 1) % len(order)]


@dataclass(slots=True)
class Entry:
    """One name in a directory with the attributes of its inode."""

    raw: bytes
    attr: Attr
    name: str = ""
    folded: str = ""
    natural: tuple[tuple[str | int, ...], str] = ((), "")
    cells: tuple[str, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.name = fmt.decode_name(self.raw)
        self.folded = self.name.casefold()
        self.natural = fmt.natural_key(self.name)

    def row(self, now: dt.datetime) -> tuple[str, ...]:
        """(size, mtime, mode, nlink, user, inode) strings.  All but the age are computed
        once; the age is relative to ``now``, the time of drawing (never a fixed start)."""
        if self.cells is None:
            a = self.attr
            self.cells = (
                "" if a.is_dir else fmt.size(a.size),
                "",
                fmt.filemode(a.mode),
                str(a.nlink),
                fmt.user_name(a.uid),
                str(a.ino),
            )
        cells = self.cells
        return (cells[0], fmt.age(self.attr.mtime_ns, now), *cells[2:])

    @property
    def target(self) -> str | None:
        t = self.attr.target
        return fmt.decode_name(t) if self.attr.is_symlink and t is not None else None


def sort_entries(entries: list[Entry], key: SortKey, reverse: bool = False) -> None:
    """Directories first, then by the key, names in natural order (file2 before file10);
    sorts in place (timsort merges loaded pages fast)."""
    if key is SortKey.NAME:
        entries.sort(key=lambda e: e.natural, reverse=reverse)
    elif key is SortKey.SIZE:
        entries.sort(key=lambda e: (-e.attr.size, e.natural), reverse=reverse)
    else:
        entries.sort(key=lambda e: (-e.attr.mtime_ns, e.natural), reverse=reverse)
    entries.sort(key=lambda e: not e.attr.is_dir)  # stable: keeps the order inside each group


def filter_entries(entries: list[Entry], query: str) -> list[Entry]:
    """Case-insensitive substring match on the name; an empty query keeps everything."""
    if not query:
        return entries
    folded = query.casefold()
    return [e for e in entries if folded in e.folded]
