"""Find names anywhere in a filesystem, filtered by Redis (no tree walk, paged).

Every directory's entries live in one hash, so a search is a SCAN over the
filesystem's directory-entry keys followed by an HSCAN ... MATCH of each: the
server does the matching and only names that match come back, a page at a
time.  Paths are rebuilt from the ``parent`` field of directories (cached).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .attrs import ROOT_INO
from .cluster import scan_pages
from .errors import FsError, translated
from .fs import FileSystem
from .keys import DIRENTS


@dataclass(frozen=True)
class Found:
    """One matching name: its directory (inode and path) and the inode it names."""

    dir_ino: int
    dir_path: str
    name: bytes
    ino: int

    @property
    def path(self) -> str:
        name = self.name.decode(errors="replace")
        return f"/{name}" if self.dir_path == "/" else f"{self.dir_path}/{name}"


def glob_for(needle: str) -> bytes:
    """A Redis glob matching names that contain ``needle``, ASCII letters in either case."""
    out = bytearray(b"*")
    for ch in needle:
        raw = ch.encode()
        if ch.isascii() and ch.isalpha():
            out += b"[" + ch.lower().encode() + ch.upper().encode() + b"]"
        else:
            for byte in raw:
                if byte in b"*?[]\\":
                    out += b"\\"
                out.append(byte)
    out += b"*"
    return bytes(out)


class _Paths:
    """Directory inode -> path, by parent pointers (each directory has one parent)."""

    def __init__(self, fs: FileSystem) -> None:
        self.fs = fs
        self.known: dict[int, str | None] = {ROOT_INO: "/"}

    def of(self, ino: int) -> str | None:
        """None for a directory that is not reachable from the root (unlinked, damaged)."""
        chain: list[tuple[int, int]] = []  # (directory, its parent), upwards
        cur = ino
        while cur not in self.known:
            attr = None
            if len(chain) < 4096 and all(c != cur for c, _ in chain):  # else: a loop
                with contextlib.suppress(FsError):
                    attr = self.fs.getattr(cur)
            if attr is None or not attr.is_dir or not attr.parent:
                for c, _ in chain:
                    self.known[c] = None
                self.known[cur] = None
                return None
            chain.append((cur, attr.parent))
            cur = attr.parent
        for child, parent in reversed(chain):  # from the known ancestor down to ``ino``
            parent_path = self.known[parent]
            self.known[child] = (None if parent_path is None
                                 else self._name_in(parent, child, parent_path))
        return self.known[ino]

    def _name_in(self, parent: int, child: int, parent_path: str) -> str | None:
        """The name ``child`` has in ``parent`` (the hash is scanned for its inode)."""
        want = str(child).encode()
        with translated():
            for name, value in self.fs.client.hscan_iter(self.fs.keys.dirents(parent),
                                                         count=1000):
                if value == want:
                    text = name.decode(errors="replace")
                    return f"/{text}" if parent_path == "/" else f"{parent_path}/{text}"
        return None


def find_names(fs: FileSystem, needle: str, cancelled: Callable[[], bool] = lambda: False,
               page_size: int = 1000) -> Iterator[list[Found]]:
    """Pages of names containing ``needle`` (case-insensitive for ASCII letters), in
    every directory reachable from the root.  ``cancelled`` is checked between pages."""
    if not needle:
        raise FsError(errno.EINVAL, "nothing to find")
    pattern = glob_for(needle)
    folded = needle.casefold()
    stem = fs.keys.pattern(DIRENTS)
    prefix_len = len(stem) - 1
    paths = _Paths(fs)
    pages = scan_pages(fs.client, stem, page_size)  # every master of a cluster
    while True:
        if cancelled():
            return
        with translated():
            keys = next(pages, None)
        if keys is None:
            return
        page: list[Found] = []
        for key in keys:
            rest = key[prefix_len:]
            if not rest.isdigit():
                continue
            dir_ino = int(rest)
            hcursor = 0
            while True:
                if cancelled():
                    return
                with translated():
                    hcursor, hits = fs.client.hscan(key, hcursor, match=pattern,
                                                    count=page_size)
                if hits:
                    dir_path = paths.of(dir_ino)
                    if dir_path is not None:
                        page += [Found(dir_ino, dir_path, name, int(v) if v.isdigit() else 0)
                                 for name, v in hits.items()
                                 if folded in name.decode(errors="replace").casefold()]
                if hcursor == 0:
                    break
        if page:
            yield sorted(page, key=lambda f: f.path)
