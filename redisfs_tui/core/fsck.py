"""Consistency check and repair of one filesystem.

``check`` reads the whole inode table (found by SCAN, see fsck_scan.py) and every
directory, then compares what the entries say with what the inodes say.  It changes
nothing.  ``repair`` fixes the problems marked repairable, one key or one script at a
time; run it while the filesystem is quiet (no writers).

Repairs never make damage look legitimate: an entry that names the root, has a name no
path can spell, or closes a loop of directories is taken out (the directory it named
goes to lost+found), and the root stays its own parent.
"""

from __future__ import annotations

import errno
import stat
from collections import Counter, defaultdict
from collections.abc import Callable

from .attrs import NAME_MAX, ROOT_INO, Attr
from .errors import FsError, translated
from .fs import FileSystem
from .fsck_scan import BATCH, Problem, Table, check_counters, check_sessions, scan_inodes
from .keys import prefix_of_base
from .pool import gc
from .snapshot import STALE_AFTER, abandon

__all__ = ["BATCH", "LOST_FOUND", "Problem", "check", "repair"]

LOST_FOUND = b"lost+found"
Entry = tuple[int, bytes]  # (directory, name)


def _bad_name(name: bytes) -> bool:
    return (not name or name in (b".", b"..") or b"/" in name or b"\0" in name
            or len(name) > NAME_MAX)


class _Tree:
    """Who names whom, from every directory's entries."""

    def __init__(self) -> None:
        self.refs: Counter[int] = Counter()
        self.subdirs: Counter[int] = Counter()
        self.dir_entries: dict[int, list[Entry]] = defaultdict(list)
        self.unsure: set[int] = set()  # directories naming an unreadable inode


def _read_entries(fs: FileSystem, table: Table, unlistable: set[int], problems: list[Problem],
                  progress: Callable[[str], None] | None) -> _Tree:
    tree = _Tree()
    for ino, attr in sorted(table.inodes.items()):
        if not attr.is_dir or ino in unlistable:
            continue
        if progress:
            progress(f"directory {ino}")
        for page in fs.readdir(ino):
            for name, child in page:
                target = table.inodes.get(child)
                if _bad_name(name):
                    # not counted: what it names is unreachable unless named elsewhere
                    problems.append(Problem("bad-name", ino, f"entry {name[:40]!r} -> {child}"
                                            " is not a valid name: removing it",
                                            data={"name": name}))
                elif child == ROOT_INO:
                    problems.append(Problem("root-entry", ino, f"entry {name!r} names the "
                                            "root directory: removing it", data={"name": name}))
                elif target is None and child in table.corrupt:
                    tree.unsure.add(ino)  # reported with the inode; keep its name
                elif target is None:
                    target_text = f"missing inode {child}" if child else "no inode number"
                    problems.append(Problem("dangling-entry", ino, f"{name!r} -> {target_text}",
                                            data={"name": name}))
                else:
                    tree.refs[child] += 1
                    if target.is_dir:
                        tree.subdirs[ino] += 1
                        tree.dir_entries[child].append((ino, name))
    return tree


def _loops(tree: _Tree, inodes: dict[int, Attr]) -> dict[int, Problem]:
    """Directories that entries chain into a cycle the root does not reach.  One of each
    cycle (the lowest number) is cut out: its entry goes and it moves to lost+found."""
    reached, todo = {ROOT_INO}, [ROOT_INO]
    children: dict[int, list[int]] = defaultdict(list)
    for child, entries in tree.dir_entries.items():
        for parent, _ in entries:
            children[parent].append(child)
    while todo:
        for child in children[todo.pop()]:
            if child not in reached:
                reached.add(child)
                todo.append(child)
    cut: dict[int, Problem] = {}
    handled: set[int] = set()
    for ino in sorted(i for i, a in inodes.items() if a.is_dir and i not in reached):
        path: list[int] = []
        cur: int | None = ino
        while cur is not None and cur not in handled and cur not in path:
            path.append(cur)
            entries = tree.dir_entries.get(cur)
            cur = entries[0][0] if entries else None  # None: hangs below an unreachable dir
        handled.update(path)
        if cur is None or cur not in path:
            continue
        cycle = path[path.index(cur):]
        victim = min(cycle)
        parent, name = tree.dir_entries[victim][0]
        cut[victim] = Problem("dir-loop", victim, f"directories {sorted(cycle)} form a loop "
                              f"the root does not reach: moving {victim} to lost+found",
                              data={"parent": parent, "name": name})
    return cut


def check(fs: FileSystem, progress: Callable[[str], None] | None = None) -> list[Problem]:
    """Every inconsistency found; an empty list means the filesystem is clean."""
    problems: list[Problem] = []
    table = scan_inodes(fs, problems)
    inodes = table.inodes
    unlistable = {p.ino for p in problems if p.kind == "wrong-type"
                  and p.data["key"] == fs.keys.dirents(p.ino)}
    if ROOT_INO not in inodes or not inodes[ROOT_INO].is_dir:
        if not any(p.kind == "bad-mode" and p.ino == ROOT_INO for p in problems):
            problems.append(Problem("missing-root", ROOT_INO, "the root directory is gone",
                                    False))
        return problems
    tree = _read_entries(fs, table, unlistable, problems, progress)
    cut = _loops(tree, inodes)
    problems += cut.values()
    for ino, attr in sorted(inodes.items()):
        if attr.is_dir:
            expected = 2 + tree.subdirs[ino]
            parents = [p for p, _ in tree.dir_entries.get(ino, [])]
            if ino == ROOT_INO:
                if attr.parent != ROOT_INO:
                    problems.append(Problem("bad-parent", ino, f"the root's parent is "
                                            f"{attr.parent}: the root is its own parent",
                                            data={"parent": ROOT_INO}))
            elif not parents:
                problems.append(Problem("unreachable", ino, "directory in no directory"))
            elif len(parents) > 1:
                problems.append(Problem("multi-linked-dir", ino, f"entries in {parents}",
                                        repairable=False))
            elif ino not in cut and attr.parent != parents[0]:
                problems.append(Problem("bad-parent", ino, f"parent {attr.parent}, is in "
                                        f"{parents[0]}", data={"parent": parents[0]}))
        else:
            expected = tree.refs[ino]
            if expected == 0 and attr.nlink > 0:
                problems.append(Problem("unreachable", ino, f"{stat.filemode(attr.mode)} "
                                        f"with nlink {attr.nlink} but no name"))
                continue
            if expected == 0 and attr.open_count <= 0:
                problems.append(Problem("orphan", ino, "unlinked, not open: space leak"))
                continue
            if expected == 0:
                continue  # unlinked but open: kept on purpose
        if attr.nlink != expected and ino not in tree.unsure:
            problems.append(Problem("bad-nlink", ino, f"nlink {attr.nlink}, should be {expected}",
                                    data={"add": expected - attr.nlink}))
    problems += check_counters(fs, table)
    problems += check_sessions(fs)
    problems += check_pool(fs)
    return problems


def check_pool(fs: FileSystem) -> list[Problem]:
    """A snapshot copy that stopped, and pool blocks no filesystem references."""
    problems = []
    copy = _snapshot_copy(fs)
    if copy is not None and copy[1] > STALE_AFTER:
        target, idle = copy
        problems.append(Problem("stale-snapshot", 0, f"the snapshot into {target} stopped "
                                f"{idle} s ago: deleting the incomplete copy",
                                data={"target": target}))
    found = gc(fs.client, fs.pool, dry_run=True)
    if found.deleted:
        problems.append(Problem("unreferenced-blocks", 0, f"{found.deleted} of the pool's "
                                f"{found.scanned} blocks are referenced by no filesystem: "
                                "deleting them"))
    return problems


def repair(fs: FileSystem, problems: list[Problem]) -> int:
    """Apply the repairs; returns how many problems were fixed."""
    fs._writable()
    _refuse_during_snapshot(fs, problems)
    fixed = 0
    lost_found: list[int] = []  # made at first need

    def lost_and_found() -> int:
        if not lost_found:
            lost_found.append(_lost_found(fs))
        return lost_found[0]

    for problem in problems:
        if not problem.repairable:
            continue
        with translated():
            if not _repair_one(fs, problem, lost_and_found):
                continue
        fixed += 1
    if fixed:
        # counters last: adopting into lost+found or purging changed them
        table = scan_inodes(fs, [])
        for problem in check_counters(fs, table):
            if problem.kind == "bad-counter":
                with translated():
                    fs.client.hset(fs.keys.superblock, mapping=problem.data)
    return fixed


def _refuse_during_snapshot(fs: FileSystem, problems: list[Problem]) -> None:
    """EBUSY while a snapshot of this filesystem is being copied: repairs change keys
    without copying the inode into the snapshot first (copy-before-write is the scripts'),
    so the snapshot would no longer be one point in time.  A stopped copy (stale-snapshot)
    may be cleaned up, and nothing else is refused when there is nothing to repair."""
    if not any(p.repairable and p.kind != "stale-snapshot" for p in problems):
        return
    copy = _snapshot_copy(fs)
    if copy is not None and copy[1] <= STALE_AFTER:
        raise FsError(errno.EBUSY, f"a snapshot of {fs.prefix} into {copy[0]} is being "
                      "taken: repair once it has finished")


def _snapshot_copy(fs: FileSystem) -> tuple[str, int] | None:
    """(target prefix, seconds since its last batch) of a snapshot copy of ``fs`` that
    has not finished, or None."""
    with translated():
        snap_to, beat = fs.client.hmget(fs.keys.superblock, "snap_to", "snap_beat")
        now = fs.client.time()[0]
    if not snap_to:
        return None
    return prefix_of_base(snap_to), now - int(beat or 0)


def _repair_one(fs: FileSystem, problem: Problem, lost_found: Callable[[], int]) -> bool:
    """One repair; False for a kind this version does not know how to fix."""
    kind, ino, data = problem.kind, problem.ino, problem.data
    client = fs.client
    if kind in ("dangling-entry", "bad-name", "root-entry"):
        client.hdel(fs.keys.dirents(ino), data["name"])
    elif kind == "bad-nlink":
        if client.exists(fs.keys.inode(ino)):  # by how much: lost+found may have added one
            client.hincrby(fs.keys.inode(ino), "nlink", data["add"])
    elif kind in ("bad-parent", "bad-mode"):
        if client.exists(fs.keys.inode(ino)):
            client.hset(fs.keys.inode(ino), mapping=data)
    elif kind in ("bad-entry", "stray-block", "missing-blocks"):
        client.hdel(data["map"], *data.get("fields", [data.get("field")]))
    elif kind == "unreferenced-blocks":
        gc(client, fs.pool)
    elif kind == "stale-snapshot":
        abandon(client, fs.prefix, data["target"])
    elif kind == "bad-counter":
        pass  # recounted at the end, after the other repairs moved things
    elif kind in ("stray-map", "wrong-type"):
        client.delete(data["key"])
    elif kind == "orphan":
        fs._run("purge", ino)
    elif kind == "dead-session":
        fs.reap_session(data["session"])
        client.delete(fs.keys.mount(data["session"]))
    elif kind == "dead-mount":
        client.delete(fs.keys.mount(data["session"]))
    elif kind == "unreachable":
        _adopt(fs, lost_found(), ino)
    elif kind == "dir-loop":
        client.hdel(fs.keys.dirents(data["parent"]), data["name"])
        client.hincrby(fs.keys.inode(data["parent"]), "nlink", -1)
        _adopt(fs, lost_found(), ino)
    else:
        return False
    return True


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
