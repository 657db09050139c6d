"""Recursive size of a directory (du), walked page by page (no Textual here).

Each directory is entered once (a loop, which only damage makes, is counted and
not followed); a file with several names is counted once; ``cancelled`` is
checked for every directory and ``progress`` hears the running totals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..core import Attr, FileSystem
from .transfer import Cancelled, TransferCancelled


@dataclass
class Usage:
    bytes: int = 0  # logical size (holes count, as du --apparent-size)
    files: int = 0
    dirs: int = 0
    others: int = 0  # symlinks, fifos, devices, sockets
    loops: list[str] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return self.files + self.dirs + self.others


def disk_usage(fs: FileSystem, attr: Attr, name: str, cancelled: Cancelled,
               progress: Callable[[Usage, str], None]) -> Usage:
    usage = Usage()
    seen_dirs = {attr.ino}
    seen_files: set[int] = set()
    if not attr.is_dir:
        usage.files, usage.bytes = (1, attr.size) if attr.is_reg else (0, 0)
        usage.others = 0 if attr.is_reg else 1
        return usage
    usage.dirs = 1
    stack = [(attr.ino, name)]
    while stack:
        ino, path = stack.pop()
        if cancelled():
            raise TransferCancelled(f"{usage.entries:,} entries")
        for page in fs.readdir_plus(ino):
            for raw, child in page:
                child_path = f"{path}/{raw.decode(errors='replace')}"
                if child.is_dir:
                    if child.ino in seen_dirs:
                        usage.loops.append(child_path)
                        continue
                    seen_dirs.add(child.ino)
                    usage.dirs += 1
                    stack.append((child.ino, child_path))
                elif child.nlink > 1 and child.ino in seen_files:
                    continue
                else:
                    if child.nlink > 1:
                        seen_files.add(child.ino)
                    if child.is_reg:
                        usage.files += 1
                        usage.bytes += child.size
                    else:
                        usage.others += 1
            progress(usage, path)
    return usage
