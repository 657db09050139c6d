"""Consistency check and repair of one filesystem.

``check`` reads the whole inode table (inodes 1..next_ino, pipelined) and every
directory, then compares what the entries say with what the inodes say.  It
changes nothing.  ``repair`` fixes the problems marked repairable, one key or
one script at a time; run it while the filesystem is quiet (no writers).
"""

from __future__ import annotations

import stat
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from .attrs import ROOT_INO, Attr, parse_attr
from .errors import FsError, translated
from .fs import FileSystem
from .keys import BLOCK, SESSION
from .registry import list_mounts

BATCH = 1000
LOST_FOUND = b"lost+found"


@dataclass(frozen=True)
class Problem:
    """One inconsistency; ``fix`` names the repair that ``repair`` would apply."""

    kind: str
    ino: int
    detail: str
    repairable: bool = True
    data: dict = field(default_factory=dict, compare=False)


def _scan_inodes(fs: FileSystem, problems: list[Problem]) -> dict[int, Attr]:
    with translated():
        next_ino = int(fs.client.hget(fs.keys.superblock, "next_ino") or 0)
    inodes: dict[int, Attr] = {}
    for start in range(1, next_ino + 1, BATCH):
        batch = list(range(start, min(start + BATCH, next_ino + 1)))
        # one round trip a batch: the inode hashes, and the types of the keys not read here
        with translated():
            pipe = fs.client.pipeline(transaction=False)
            for ino in batch:
                pipe.hgetall(fs.keys.inode(ino))
                pipe.type(fs.keys.dirents(ino))
                pipe.type(fs.keys.xattrs(ino))
            replies = pipe.execute(raise_on_error=False)
        for index, ino in enumerate(batch):
            raw, dirents_type, xattrs_type = replies[3 * index:3 * index + 3]
            wrong = [(fs.keys.inode(ino), "not a hash")] if isinstance(raw, Exception) else []
            wrong += [(key, f"a {kind.decode()}, not a hash") for key, kind in
                      ((fs.keys.dirents(ino), dirents_type), (fs.keys.xattrs(ino), xattrs_type))
                      if kind not in (b"hash", b"none")]
            for key, what in wrong:
                problems.append(Problem("wrong-type", ino, f"{key} is {what}: deleting it",
                                        data={"key": key}))
            if isinstance(raw, Exception) or not raw:
                continue
            try:
                attr = parse_attr(ino, raw)
            except FsError as exc:
                problems.append(Problem("corrupt-inode", ino, str(exc), repairable=False))
                continue
            if attr is not None:
                inodes[ino] = attr
    return inodes


def check(fs: FileSystem, progress: Callable[[str], None] | None = None) -> list[Problem]:
    """Every inconsistency found; an empty list means the filesystem is clean."""
    problems: list[Problem] = []
    inodes = _scan_inodes(fs, problems)
    corrupt = {p.ino for p in problems if p.kind == "corrupt-inode"}
    unlistable = {p.ino for p in problems if p.kind == "wrong-type"
                  and p.data["key"] == fs.keys.dirents(p.ino)}
    if ROOT_INO not in inodes or not inodes[ROOT_INO].is_dir:
        problems.append(Problem("missing-root", ROOT_INO, "the root directory is gone", False))
        return problems
    refs: Counter[int] = Counter()
    subdirs: Counter[int] = Counter()
    dir_parents: dict[int, list[int]] = defaultdict(list)
    for ino, attr in inodes.items():
        if not attr.is_dir or ino in unlistable:
            continue
        if progress:
            progress(f"directory {ino}")
        for page in fs.readdir(ino):
            for name, child in page:
                target = inodes.get(child)
                if target is None and child in corrupt:
                    continue  # reported as corrupt-inode; keep its name
                if target is None:
                    target_text = f"missing inode {child}" if child else "no inode number"
                    problems.append(Problem("dangling-entry", ino, f"{name!r} -> {target_text}",
                                            data={"name": name}))
                    continue
                refs[child] += 1
                if target.is_dir:
                    subdirs[ino] += 1
                    dir_parents[child].append(ino)
    for ino, attr in inodes.items():
        if attr.is_dir:
            expected = 2 + subdirs[ino]
            parents = dir_parents.get(ino, [])
            if ino != ROOT_INO and not parents:
                problems.append(Problem("unreachable", ino, "directory in no directory"))
            elif len(parents) > 1:
                problems.append(Problem("multi-linked-dir", ino, f"entries in {parents}",
                                        repairable=False))
            elif parents and attr.parent != parents[0]:
                problems.append(Problem("bad-parent", ino, f"parent {attr.parent}, is in "
                                        f"{parents[0]}", data={"parent": parents[0]}))
        else:
            expected = refs[ino]
            if expected == 0 and attr.nlink > 0:
                problems.append(Problem("unreachable", ino, f"{stat.filemode(attr.mode)} "
                                        f"with nlink {attr.nlink} but no name"))
                continue
            if expected == 0 and attr.open_count <= 0:
                problems.append(Problem("orphan", ino, "unlinked, not open: space leak"))
                continue
            if expected == 0:
                continue  # unlinked but open: kept on purpose
        if attr.nlink != expected:
            problems.append(Problem("bad-nlink", ino, f"nlink {attr.nlink}, should be {expected}",
                                    data={"nlink": expected}))
    problems += _check_counters(fs, inodes, corrupt)
    problems += _check_sessions(fs)
    return problems


def _check_counters(fs: FileSystem, inodes: dict[int, Attr], corrupt: set[int]
                    ) -> list[Problem]:
    """Superblock counters against reality, and blocks no file accounts for.

    Blocks are found with one SCAN of the filesystem's block keys rather than by
    index, so a huge sparse file costs what it stores, not what its size says.  The
    blocks of a corrupt inode are its data, not strays: they are left alone.
    """
    problems = []
    logical = sum(a.size for a in inodes.values() if a.is_reg)
    limits = {a.ino: (a.size + fs.block_size - 1) // fs.block_size
              for a in inodes.values() if a.is_reg}
    stored = 0
    with translated():
        names = list(fs.client.scan_iter(match=fs.keys.pattern(BLOCK), count=1000))
        for start in range(0, len(names), BATCH):
            batch = names[start:start + BATCH]
            pipe = fs.client.pipeline(transaction=False)
            for name in batch:
                pipe.strlen(name)
            for name, length in zip(batch, pipe.execute(raise_on_error=False), strict=True):
                parsed = fs.keys.parse_block(name)
                if parsed is None:
                    continue
                ino, index = parsed
                if isinstance(length, Exception):  # WRONGTYPE: not a string, not a block
                    problems.append(Problem("wrong-type", ino, f"{name.decode()} is not a "
                                            "string: deleting it", data={"key": name}))
                    continue
                if ino not in corrupt and index >= limits.get(ino, 0):
                    problems.append(Problem("stray-block", ino, f"block {index} beyond the "
                                            "end of the file", data={"key": name}))
                else:
                    stored += length
        sb = fs.client.hmget(fs.keys.superblock, "inodes", "logical_bytes", "stored_bytes")
    actual = {"inodes": len(inodes) + len(corrupt), "logical_bytes": logical,
              "stored_bytes": stored}
    for (name, value), recorded in zip(actual.items(), sb, strict=True):
        if int(recorded or 0) != value:
            problems.append(Problem("bad-counter", 0, f"superblock {name} {int(recorded or 0)},"
                                    f" should be {value}", data={name: value}))
    return problems


def _check_sessions(fs: FileSystem) -> list[Problem]:
    """Open handles held by sessions whose mount is dead (or never registered)."""
    live = {m.session_id for m in list_mounts(fs.client, fs.prefix) if m.alive}
    problems = []
    with translated():
        for key in fs.client.scan_iter(match=fs.keys.pattern(SESSION), count=1000):
            session = key.decode().rsplit(":", 1)[-1]
            if session not in live and session != fs.session_id:
                problems.append(Problem("dead-session", 0, f"session {session} holds open "
                                        "handles but has no live mount",
                                        data={"session": session}))
    return problems


def repair(fs: FileSystem, problems: list[Problem]) -> int:
    """Apply the repairs; returns how many problems were fixed."""
    fs._writable()
    fixed = 0
    lost_found: int | None = None
    for problem in problems:
        if not problem.repairable:
            continue
        with translated():
            if problem.kind == "dangling-entry":
                fs.client.hdel(fs.keys.dirents(problem.ino), problem.data["name"])
            elif problem.kind in ("bad-nlink", "bad-parent"):
                fs.client.hset(fs.keys.inode(problem.ino), mapping=problem.data)
            elif problem.kind == "bad-counter":
                pass  # recounted below, after the other repairs moved things
            elif problem.kind in ("stray-block", "wrong-type"):
                fs.client.delete(problem.data["key"])
            elif problem.kind == "orphan":
                fs._run("purge", problem.ino)
            elif problem.kind == "dead-session":
                fs.reap_session(problem.data["session"])
            elif problem.kind == "unreachable":
                if lost_found is None:
                    lost_found = _lost_found(fs)
                _adopt(fs, lost_found, problem.ino)
            else:
                continue
        fixed += 1
    if fixed:
        # counters last: adopting into lost+found or purging changed them
        rescan: list[Problem] = []
        inodes = _scan_inodes(fs, rescan)
        corrupt = {p.ino for p in rescan if p.kind == "corrupt-inode"}
        for problem in _check_counters(fs, inodes, corrupt):
            if problem.kind == "bad-counter":
                with translated():
                    fs.client.hset(fs.keys.superblock, mapping=problem.data)
    return fixed


def _lost_found(fs: FileSystem) -> int:
    try:
        return fs.lookup(ROOT_INO, LOST_FOUND).ino
    except FsError:
        return fs.mkdir(ROOT_INO, LOST_FOUND, 0o700).ino


def _adopt(fs: FileSystem, lost_found: int, ino: int) -> None:
    """Give an unreachable inode the name lost+found/#<ino>, with nlink right."""
    attr = fs.getattr(ino)
    name = f"#{ino}".encode()
    fs.client.hset(fs.keys.dirents(lost_found), name, ino)
    if attr.is_dir:
        fs.client.hset(fs.keys.inode(ino), mapping={"parent": lost_found})
        fs.client.hincrby(fs.keys.inode(lost_found), "nlink", 1)
    else:
        fs.client.hset(fs.keys.inode(ino), mapping={"nlink": 1, "parent": lost_found})
