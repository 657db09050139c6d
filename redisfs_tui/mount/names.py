"""Open directories: one listing per ``opendir``, so that ``readdir`` can continue
at any offset while other processes change the directory."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DirHandle:
    ino: int
    entries: list[tuple[str, dict[str, Any]]] | None = None
    mutex: threading.Lock = field(default_factory=threading.Lock)


class DirHandles:
    """opendir numbers; even numbers, so they never equal a file handle (odd)."""

    def __init__(self) -> None:
        self._handles: dict[int, DirHandle] = {}
        self._next = itertools.count(2, 2)

    def open(self, ino: int) -> int:
        fh = next(self._next)
        self._handles[fh] = DirHandle(ino)
        return fh

    def get(self, fh: int) -> DirHandle | None:
        return self._handles.get(fh)

    def close(self, fh: int) -> None:
        self._handles.pop(fh, None)
