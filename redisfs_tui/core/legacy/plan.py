"""Turn what was read of a C redisfs tree into a plan of creations, and a report.

Every check happens here, before the new filesystem is touched: an entry that cannot
be migrated (dangling, nameless, a loop, ...) is reported and left out, so writing the
plan can only fail for reasons outside the tree (the server).  A missing or garbled
attribute is replaced by a default and reported too.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from ..attrs import NAME_MAX
from ..keys import LEGACY_ROOT
from .source import LegacyRead, shown

KINDS = {b"DIR": "dir", b"FILE": "file", b"LINK": "symlink"}  # the C code's TYPE values
DEFAULT_PERM = {"dir": 0o755, "file": 0o644, "symlink": 0o777}
MAX_ID = 2**32 - 2  # uid_t/gid_t; (uid_t)-1 means "no change" and is no owner
MAX_TARGET = 4095
MEMBER_RE = re.compile(rb"^-?\d+$")
C_PREFIX_MAX = 8  # the C code kept 8 characters of --prefix (char[10], snprintf size - 1)


@dataclass
class Node:
    """One inode to create, under its first name."""

    legacy: int  # its C inode number
    kind: str  # "dir", "file" or "symlink"
    parent: int  # C inode number of the directory that holds it (first name)
    name: bytes
    perm: int
    uid: int
    gid: int
    atime_ns: int
    mtime_ns: int
    target: bytes = b""
    size: int = 0  # bytes of DATA to copy


@dataclass
class Report:
    """What a migration found and did; ``problems`` says what was skipped or guessed."""

    source: str
    target: str
    dirs: int = 0
    files: int = 0
    symlinks: int = 0
    hard_links: int = 0  # names beyond an inode's first
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    written: bool = False  # False: a dry run (nothing was created)

    def lines(self) -> list[str]:
        verb = "migrated" if self.written else "would migrate (dry run)"
        out = [f"{verb} the {self.source} to filesystem {self.target!r}",
               f"  {self.dirs:,} directories, {self.files:,} files, {self.symlinks:,} "
               f"symlinks, {self.hard_links:,} hard links, {self.bytes:,} bytes of data"]
        if not self.problems:
            return [*out, "  no problems found"]
        out.append(f"  {len(self.problems):,} problem(s), each skipped or worked around:")
        return out + [f"  - {p}" for p in self.problems]


@dataclass
class Plan:
    nodes: list[Node]  # creation order: a directory before what it holds
    links: list[tuple[int, int, bytes]]  # (C inode, C directory, name): further names
    report: Report


def build_plan(read: LegacyRead, source: str, target: str, now_ns: int) -> Plan:
    return _Planner(read, Report(source, target), now_ns).run()


class _Planner:
    def __init__(self, read: LegacyRead, report: Report, now_ns: int) -> None:
        self.read = read
        self.report = report
        self.now_ns = now_ns
        self.problems = report.problems
        self.problems.extend(read.problems)
        self.nodes: dict[int, Node] = {}
        self.links: list[tuple[int, int, bytes]] = []
        self.up: dict[int, int] = {LEGACY_ROOT: LEGACY_ROOT}  # directory -> its parent
        self.rejected: set[int] = set()  # cannot be migrated (reported once)
        self.mentioned: set[int] = set()  # skipped somewhere, reported there

    def where(self, ino: int) -> str:
        if ino == LEGACY_ROOT:
            return "/"
        parts: list[bytes] = []
        while ino != LEGACY_ROOT and ino in self.nodes and len(parts) < 64:
            parts.append(self.nodes[ino].name)
            ino = self.nodes[ino].parent
        lead = b"/" if ino == LEGACY_ROOT else b".../"
        return shown(lead + b"/".join(reversed(parts))[-120:], 124)

    def run(self) -> Plan:
        queue = deque([LEGACY_ROOT])
        while queue:
            directory = queue.popleft()
            names: set[bytes] = set()
            here = self.where(directory)  # once per directory: a walk up to /
            for child in self._members(directory, here):
                node = self._visit(directory, here, child, names)
                if node is not None and node.kind == "dir":
                    queue.append(child)
        self._unreached()
        r = self.report
        for node in self.nodes.values():
            r.dirs += node.kind == "dir"
            r.files += node.kind == "file"
            r.symlinks += node.kind == "symlink"
            r.bytes += node.size
        r.hard_links = len(self.links)
        return Plan(list(self.nodes.values()), self.links, r)

    def _members(self, directory: int, here: str) -> list[int]:
        numbers = []
        for raw in self.read.dirents.get(directory, []):
            if MEMBER_RE.match(raw):
                numbers.append(int(raw))
            else:
                self.problems.append(f"directory {here} lists {shown(raw)}, "
                                     "which is not an inode number: skipped")
        return sorted(numbers)

    def _visit(self, directory: int, here: str, child: int, names: set[bytes]
               ) -> Node | None:
        """Plan one member of a directory; returns the node when it is new."""
        if child in self.up:  # a directory met again
            if self._is_ancestor(child, directory):
                self.problems.append(f"loop: directory {here} lists its own ancestor "
                                     f"{self.where(child)} (C inode {child}): skipped")
            else:
                self.problems.append(f"directory {self.where(child)} (C inode {child}) is "
                                     f"also listed in {here}; a directory has one parent: "
                                     "that second entry is skipped")
            return None
        if child in self.nodes:  # a file or symlink met again: a hard link
            name = self.nodes[child].name
            if name in names:
                self.problems.append(f"two entries named {shown(name)} in {here}: C inode "
                                     f"{child} skipped there")
            else:
                names.add(name)
                self.links.append((child, directory, name))
            return None
        if child in self.rejected:
            return None
        node = self._node(directory, child, here)
        if node is None:
            self.rejected.add(child)
            return None
        if node.name in names:  # the inode may still have a free name elsewhere
            self.problems.append(f"two entries named {shown(node.name)} in {here}: C inode "
                                 f"{child} skipped there")
            self.mentioned.add(child)
            return None
        names.add(node.name)
        self.nodes[child] = node
        if node.kind == "dir":
            self.up[child] = directory
        elif child in self.read.dirents:
            self.problems.append(f"{self.where(child)} is a {node.kind} but has directory "
                                 "entries (DIRENT): they are ignored")
        return node

    def _is_ancestor(self, candidate: int, directory: int) -> bool:
        while True:
            if directory == candidate:
                return True
            if directory == LEGACY_ROOT:
                return False
            directory = self.up[directory]

    def _node(self, directory: int, child: int, here: str) -> Node | None:
        """A new node, or None (reported) when the entry cannot be migrated."""
        f = self.read.fields.get(child)
        what = f"C inode {child} in {here}"
        if not f and child not in self.read.data_len:
            self.problems.append(f"dangling entry: {what} has no keys: skipped")
            return None
        f = f or {}
        name = f.get(b"NAME")
        why = _bad_name(name)
        if why:
            self.problems.append(f"{what}: {why}: skipped")
            return None
        assert name is not None
        what = f"{shown(name)} (C inode {child}) in {here}"
        kind = KINDS.get((f.get(b"TYPE") or b"").upper())
        if kind is None:
            said = f"TYPE {shown(f[b'TYPE'])}" if b"TYPE" in f else "no TYPE"
            self.problems.append(f"{what} has {said} (DIR, FILE or LINK): skipped")
            return None
        node = Node(child, kind, directory, name, 0, 0, 0, 0, 0)
        mode = None if kind == "symlink" else self._number(f, b"MODE", what, 2**32 - 1)
        node.perm = DEFAULT_PERM[kind] if mode is None else mode & 0o7777
        node.uid = self._number(f, b"UID", what, MAX_ID) or 0
        node.gid = self._number(f, b"GID", what, MAX_ID) or 0
        for attr, key in (("atime_ns", b"ATIME"), ("mtime_ns", b"MTIME")):
            seconds = self._number(f, key, what, 2**40)
            setattr(node, attr, self.now_ns if seconds is None else seconds * 10**9)
        if kind == "symlink":
            return self._symlink(node, f, what)
        if kind == "file":
            return self._file(node, f, what)
        return node

    def _number(self, f: dict[bytes, bytes], key: bytes, what: str, high: int) -> int | None:
        """An integer attribute from 0 to ``high``, or None (reported: a default is used)."""
        raw = f.get(key)
        if raw is not None and MEMBER_RE.match(raw) and 0 <= int(raw) <= high:
            return int(raw)
        said = f"{key.decode()} {shown(raw)} is not valid" if raw is not None \
            else f"no {key.decode()}"
        default = "now" if key.endswith(b"TIME") else "the default"
        self.problems.append(f"{what}: {said}: used {default}")
        return None

    def _symlink(self, node: Node, f: dict[bytes, bytes], what: str) -> Node | None:
        target = f.get(b"TARGET")
        if not target or b"\0" in target or len(target) > MAX_TARGET:
            said = "no TARGET" if target is None else f"TARGET {shown(target)} is not valid"
            self.problems.append(f"symlink {what}: {said}: skipped")
            return None
        node.target = target
        return node

    def _file(self, node: Node, f: dict[bytes, bytes], what: str) -> Node | None:
        stored = self.read.data_len.get(node.legacy, 0)
        if stored < 0:
            self.problems.append(f"file {what}: its DATA cannot be read: skipped")
            return None
        raw = f.get(b"SIZE")
        size = int(raw) if raw is not None and raw.isdigit() else None
        node.size = stored
        if raw is not None and size is None:
            self.problems.append(f"file {what}: SIZE is not a number: copied all "
                                 f"{stored:,} bytes of DATA")
        elif size is not None and size < stored:
            node.size = size  # the C code never read past SIZE
            self.problems.append(f"file {what}: SIZE {size:,} but DATA holds {stored:,} "
                                 f"bytes: copied the first {size:,}, as the C redisfs read")
        elif size is not None and size > stored:
            self.problems.append(f"file {what}: SIZE {size:,} but DATA holds only "
                                 f"{stored:,} bytes: copied those")
        return node

    def _unreached(self) -> None:
        """Report inodes and directory sets that no path from / leads to."""
        seen = set(self.nodes) | self.rejected | self.mentioned | {LEGACY_ROOT}
        for ino in sorted(set(self.read.fields) | set(self.read.data_len)):
            if ino not in seen:
                name = self.read.fields.get(ino, {}).get(b"NAME")
                named = f" {shown(name)}" if name else ""
                self.problems.append(f"C inode {ino}{named} is in no directory reachable "
                                     "from /: not migrated")
        for ino in sorted(self.read.dirents):
            if ino not in seen and ino not in self.read.fields:
                why = (" (the C code filed there what it created in a directory it could "
                       "not find)") if ino == -1 else ""
                self.problems.append(f"directory set DIRENT:{ino} belongs to no inode{why}: "
                                     "not migrated")
        if self.read.unknown:
            first = ", ".join(shown(k) for k in sorted(self.read.unknown)[:3])
            self.problems.append(f"{len(self.read.unknown):,} key(s) under the prefix are "
                                 f"not in the C redisfs schema and were ignored ({first})")


def _bad_name(name: bytes | None) -> str:
    if name is None:
        return "no NAME"
    if not name or name in (b".", b".."):
        return f"NAME {shown(name)} is not a file name"
    if b"/" in name or b"\0" in name:
        return f"NAME {shown(name)} contains '/' or NUL"
    if len(name) > NAME_MAX:
        return f"NAME {shown(name)} is longer than {NAME_MAX} bytes"
    return ""
