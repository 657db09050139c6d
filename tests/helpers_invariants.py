"""An independent, deliberately simple consistency checker for the tests.

It reads every key of one filesystem with SCAN and checks the invariants the
core must keep after any sequence of (possibly concurrent) operations.  It does
not share code with core/fsck.py on purpose: two implementations that agree are
worth more than one that checks itself.  Key names come from core/keys.py.
"""

from __future__ import annotations

import errno
import stat
from collections import Counter
from dataclasses import dataclass, field

import pytest
import redis

from redisfs_tui.core import ROOT_INO, FileSystem, FsError
from redisfs_tui.core import keys as K


@dataclass
class Scan:
    """Every key of one filesystem, grouped by kind."""

    superblock: dict[bytes, bytes] = field(default_factory=dict)
    inodes: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    dirents: dict[int, dict[bytes, int]] = field(default_factory=dict)
    xattrs: set[int] = field(default_factory=set)
    blocks: dict[tuple[int, int], int] = field(default_factory=dict)  # -> stored length
    entries: dict[tuple[int, int], bytes] = field(default_factory=dict)  # -> map entry
    sessions: dict[str, dict[int, int]] = field(default_factory=dict)
    orphans: set[int] = field(default_factory=set)
    other: list[str] = field(default_factory=list)


def scan(client: redis.Redis, prefix: str) -> Scan:
    keys = K.Keys(prefix)
    found = Scan()
    names = [k.decode() for k in client.scan_iter(match=keys.all_keys_pattern(), count=1000)]
    base = len(keys.base)
    pipe = client.pipeline(transaction=False)
    plan: list[tuple[str, tuple]] = []
    for name in names:
        kind, _, rest = name[base:].partition(":")
        if name == keys.superblock:
            plan.append(("sb", ()))
            pipe.hgetall(name)
        elif name == keys.orphans:
            plan.append(("orphans", ()))
            pipe.smembers(name)
        elif kind == K.INODE:
            plan.append(("i", (int(rest),)))
            pipe.hgetall(name)
        elif kind == K.DIRENTS:
            plan.append(("d", (int(rest),)))
            pipe.hgetall(name)
        elif kind == K.XATTRS:
            found.xattrs.add(int(rest))
        elif kind == K.BLOCK_MAP:
            plan.append(("k", (int(rest),)))
            pipe.hgetall(name)
        elif kind == K.SESSION:
            plan.append(("s", (rest,)))
            pipe.hgetall(name)
        elif kind == K.MOUNT:
            continue
        else:
            found.other.append(name)
    for (kind, arg), value in zip(plan, pipe.execute(), strict=True):
        if kind == "sb":
            found.superblock = value
        elif kind == "orphans":
            found.orphans = {int(v) for v in value}
        elif kind == "i":
            found.inodes[arg[0]] = value
        elif kind == "d":
            found.dirents[arg[0]] = {n: int(v) for n, v in value.items()}
        elif kind == "k":
            for idx, entry in value.items():
                found.entries[(arg[0], int(idx))] = entry
                found.blocks[(arg[0], int(idx))] = int(entry.split(b".")[2])
        elif kind == "s":
            found.sessions[arg[0]] = {int(k): int(v) for k, v in value.items()}
    return found


def _num(raw: dict[bytes, bytes], name: str) -> int:
    return int(raw.get(name.encode(), b"0"))


def problems(client: redis.Redis, prefix: str) -> list[str]:
    """Every broken invariant, as readable sentences (empty list = consistent)."""
    s = scan(client, prefix)
    out: list[str] = []
    if not s.superblock:
        return ["no superblock"]
    out += [f"unexpected key {name}" for name in s.other]
    mode = {ino: _num(raw, "mode") for ino, raw in s.inodes.items()}
    if ROOT_INO not in mode or not stat.S_ISDIR(mode[ROOT_INO]):
        out.append("root inode missing or not a directory")

    refs: Counter[int] = Counter()
    subdirs: Counter[int] = Counter()
    parent_of: dict[int, list[int]] = {}
    for dino, entries in s.dirents.items():
        if dino not in mode:
            out.append(f"entries of missing inode {dino}")
            continue
        if not stat.S_ISDIR(mode[dino]):
            out.append(f"entries on non-directory {dino}")
        if not entries:
            out.append(f"empty dirents hash kept for {dino}")
        for name, child in entries.items():
            if child not in mode:
                out.append(f"entry {dino}/{name!r} -> missing inode {child}")
                continue
            refs[child] += 1
            if stat.S_ISDIR(mode[child]):
                subdirs[dino] += 1
                parent_of.setdefault(child, []).append(dino)

    if refs[ROOT_INO]:
        out.append("a directory entry points at the root")
    for ino, raw in s.inodes.items():
        m, nlink = mode[ino], _num(raw, "nlink")
        if stat.S_ISDIR(m):
            want = 2 + subdirs[ino]
            if nlink != want:
                out.append(f"dir {ino}: nlink {nlink}, expected {want}")
            if ino != ROOT_INO:
                parents = parent_of.get(ino, [])
                if len(parents) != 1:
                    out.append(f"dir {ino} has {len(parents)} entries pointing at it")
                elif _num(raw, "parent") != parents[0]:
                    out.append(f"dir {ino}: parent field {_num(raw, 'parent')} "
                               f"but lives in {parents[0]}")
        elif nlink != refs[ino]:
            out.append(f"inode {ino}: nlink {nlink}, but {refs[ino]} entries")
        if stat.S_ISLNK(m) and _num(raw, "size") != len(raw.get(b"target", b"")):
            out.append(f"symlink {ino}: size differs from target length")
        opened = _num(raw, "open")
        held = sum(sess.get(ino, 0) for sess in s.sessions.values())
        if opened != held:
            out.append(f"inode {ino}: open={opened} but sessions hold {held}")
        if opened < 0:
            out.append(f"inode {ino}: negative open count")

    # reachability from the root; orphans are the only allowed exceptions
    seen, todo = {ROOT_INO}, [ROOT_INO]
    while todo:
        for child in s.dirents.get(todo.pop(), {}).values():
            if child in mode and child not in seen:
                seen.add(child)
                todo.append(child)
    unreachable = set(mode) - seen
    for ino in sorted(unreachable - s.orphans):
        out.append(f"inode {ino} is unreachable and not an orphan")
    for ino in sorted(s.orphans):
        raw = s.inodes.get(ino)
        if raw is None:
            out.append(f"orphan {ino} has no inode")
        elif _num(raw, "nlink") != 0 or _num(raw, "open") <= 0:
            out.append(f"orphan {ino} has nlink {_num(raw, 'nlink')} open {_num(raw, 'open')}")
    for ino in sorted(seen & s.orphans):
        out.append(f"orphan {ino} is still reachable")

    bs = _num(s.superblock, "block_size")
    for (ino, idx), length in s.blocks.items():
        raw = s.inodes.get(ino)
        if raw is None or not stat.S_ISREG(mode[ino]):
            out.append(f"block {ino}:{idx} of a missing or non-regular inode")
        elif idx * bs >= _num(raw, "size"):
            out.append(f"block {ino}:{idx} lies beyond size {_num(raw, 'size')}")
        if length == 0:
            out.append(f"empty block key {ino}:{idx}")
    pool, epoch = s.superblock[b"pool"].decode(), _num(s.superblock, "epoch")
    where = list(s.entries.items())
    pipe = client.pipeline(transaction=False)
    for _, entry in where:
        pipe.strlen(K.block_key(pool, entry.split(b".")[1].decode()))
    for ((ino, idx), entry), length in zip(where, pipe.execute(), strict=True):
        if int(entry.split(b".")[0]) > epoch:
            out.append(f"block {ino}:{idx} entry {entry!r} is from a future epoch")
        if length != s.blocks[(ino, idx)]:
            out.append(f"block {ino}:{idx} entry {entry!r}: pool block holds {length} bytes")
    for ino, raw in s.inodes.items():
        if b"blocks" in raw:
            out.append(f"inode {ino} has a format 1 blocks field")
    for ino in s.xattrs - set(mode):
        out.append(f"xattrs of missing inode {ino}")
    for sid, held in s.sessions.items():
        for ino, count in held.items():
            if count <= 0:
                out.append(f"session {sid} holds {count} handles on {ino}")

    counters = {
        "inodes": len(s.inodes),
        "logical_bytes": sum(_num(r, "size") for i, r in s.inodes.items()
                             if stat.S_ISREG(mode[i])),
        "stored_bytes": sum(s.blocks.values()),
    }
    for name, actual in counters.items():
        recorded = _num(s.superblock, name)
        if recorded != actual:
            out.append(f"superblock {name}={recorded}, actual {actual}")
    if s.inodes and _num(s.superblock, "next_ino") < max(s.inodes):
        out.append("next_ino is below an existing inode number")
    return out


def assert_consistent(fs: FileSystem) -> None:
    found = problems(fs.client, fs.prefix)
    assert found == [], "\n".join(found[:50])


def tree(fs: FileSystem) -> dict[bytes, tuple]:
    """Path -> (kind, perm, size, contents-or-target, nlink, link group) via the public API.

    The link group is the smallest path of the same inode, so hard links
    compare equal whatever inode numbers the two sides chose.
    """
    rows: dict[bytes, tuple] = {}
    first_path: dict[int, bytes] = {}
    todo = [(b"", ROOT_INO)]
    while todo:
        path, ino = todo.pop()
        for page in fs.readdir_plus(ino):
            for name, attr in page:
                child = path + b"/" + name
                first_path[attr.ino] = min(first_path.get(attr.ino, child), child)
                if attr.is_dir:
                    body = b""
                    todo.append((child, attr.ino))
                elif attr.is_symlink:
                    body = attr.target or b""
                else:
                    body = fs.read(attr.ino, 0, attr.size)
                rows[child] = (stat.S_IFMT(attr.mode), stat.S_IMODE(attr.mode), attr.size,
                               body, attr.nlink, attr.ino)
    return {p: (*row[:5], first_path[row[5]]) for p, row in rows.items()}


def fails(code: int, func, *args, **kwargs) -> FsError:
    """Call and insist on an FsError with exactly this errno."""
    with pytest.raises(FsError) as info:
        func(*args, **kwargs)
    name = getattr(func, "__name__", "call")
    assert info.value.errno == code, f"{name}: {info.value!r}, not {errno.errorcode[code]}"
    return info.value


def map_indices(fs: FileSystem, ino: int) -> set[int]:
    """Block indices a file's block map names (format 2)."""
    return {int(i) for i in fs.client.hkeys(fs.keys.block_map(ino))}


def pool_keys(client: redis.Redis, pool: str) -> set[bytes]:
    """Every block key of a pool."""
    return set(client.scan_iter(match=K.pool_pattern(pool), count=1000))


def stored_key(fs: FileSystem, ino: int, index: int) -> str:
    """The pool key holding block ``index`` of a file (its map must name one)."""
    entry = fs.client.hget(fs.keys.block_map(ino), index)
    assert entry is not None, f"inode {ino} has no block {index}"
    return fs.block_key(entry.split(b".")[1].decode())
