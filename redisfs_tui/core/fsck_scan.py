"""fsck's reading half: the inode table, block maps, counters and sessions.

The inode table is found with SCAN over ``{P}:i:*``, never by counting 1..next_ino:
a damaged or hostile next_ino (10^12) must not make fsck run for ever, and the cost
is what the filesystem stores.  Every value is read as untrusted: a field that is
not what the format says becomes a Problem, never an exception.
"""

from __future__ import annotations

import stat
import time
from dataclasses import dataclass, field

from .attrs import ROOT_INO, Attr, parse_attr, valid_mode
from .blockmap import entry_id
from .errors import FsError, translated
from .fs import FileSystem
from .keys import BLOCK_MAP, INODE, SESSION
from .registry import list_mounts

BATCH = 1000


@dataclass(frozen=True)
class Problem:
    """One inconsistency; ``repair`` applies the fix its detail announces."""

    kind: str
    ino: int
    detail: str
    repairable: bool = True
    data: dict = field(default_factory=dict, compare=False)


@dataclass
class Table:
    """What the inode scan found."""

    inodes: dict[int, Attr] = field(default_factory=dict)
    corrupt: set[int] = field(default_factory=set)    # hashes that could not be parsed
    highest: int = 0                                  # the largest inode number seen


def _number(raw: bytes | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _guess_mode(raw: dict[bytes, bytes], has_entries: bool) -> int:
    """A mode for an inode whose own is unreadable, from what else it has."""
    if has_entries or (b"blocks" not in raw and b"target" not in raw
                       and (_number(raw.get(b"nlink")) or 0) >= 2
                       and not _number(raw.get(b"size"))):  # an empty directory
        return stat.S_IFDIR | 0o755
    if b"target" in raw:
        return stat.S_IFLNK | 0o777
    return stat.S_IFREG | 0o644


def _inode_keys(fs: FileSystem) -> list[int]:
    with translated():
        found = {fs.keys.parse_inode(key)
                 for key in fs.client.scan_iter(match=fs.keys.pattern(INODE), count=1000)}
    return sorted(ino for ino in found if ino)


def scan_inodes(fs: FileSystem, problems: list[Problem]) -> Table:
    """Every inode hash (and the types of its entry and xattr keys), in batches."""
    table = Table()
    inos = _inode_keys(fs)
    table.highest = max(inos, default=0)
    for start in range(0, len(inos), BATCH):
        batch = inos[start:start + BATCH]
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
            if isinstance(raw, Exception) or not raw or b"mode" not in raw:
                continue
            _read_inode(ino, raw, dirents_type == b"hash", table, problems)
    return table


def _read_inode(ino: int, raw: dict[bytes, bytes], has_entries: bool, table: Table,
                problems: list[Problem]) -> None:
    mode = _number(raw[b"mode"])
    if mode is None or not valid_mode(mode):
        guess = _guess_mode(raw, has_entries)
        if ino == ROOT_INO:
            guess = stat.S_IFDIR | 0o755
        problems.append(Problem("bad-mode", ino, f"mode {raw[b'mode'][:20]!r} is not a file "
                                f"mode: setting it to {guess:o} ({stat.filemode(guess)})",
                                data={"mode": guess}))
        table.corrupt.add(ino)  # until repaired: names kept, blocks not strays
        return
    try:
        attr = parse_attr(ino, raw)
    except FsError as exc:
        problems.append(Problem("corrupt-inode", ino, str(exc), repairable=False))
        table.corrupt.add(ino)
        return
    if attr is not None:
        table.inodes[ino] = attr


def check_counters(fs: FileSystem, table: Table) -> list[Problem]:
    """Superblock counters, and every block map against the pool blocks it names.

    Maps are found with one SCAN of the filesystem's map keys, so a huge sparse file
    costs what it stores, not what its size says.  The maps of a corrupt inode are its
    data, not strays: they are left alone.
    """
    problems = []
    inodes = table.inodes
    logical = sum(a.size for a in inodes.values() if a.is_reg)
    limits = {a.ino: (a.size + fs.block_size - 1) // fs.block_size
              for a in inodes.values() if a.is_reg}
    stored = 0
    with translated():
        names = list(fs.client.scan_iter(match=fs.keys.pattern(BLOCK_MAP), count=1000))
        for start in range(0, len(names), BATCH):
            batch = names[start:start + BATCH]
            pipe = fs.client.pipeline(transaction=False)
            for name in batch:
                pipe.hgetall(name)
            for name, entries in zip(batch, pipe.execute(raise_on_error=False), strict=True):
                stored += _check_map(fs, name, entries, table, limits, problems)
        sb = fs.client.hmget(fs.keys.superblock, "inodes", "logical_bytes", "stored_bytes",
                             "next_ino")
    actual = {"inodes": len(inodes) + len(table.corrupt), "logical_bytes": logical,
              "stored_bytes": stored}
    for (name, value), recorded in zip(actual.items(), sb, strict=False):
        number = _number(recorded or b"0")
        if name == "logical_bytes" and table.corrupt and number is not None:
            continue  # unknowable while some inode's size cannot be read
        if number != value:
            said = recorded[:20].decode(errors="replace") if number is None else number
            problems.append(Problem("bad-counter", 0, f"superblock {name} {said}, should be "
                                    f"{value}", data={name: value}))
    next_ino = _number(sb[3])
    if next_ino is None or next_ino < table.highest:
        # the next create would reuse an inode number and overwrite that inode
        said = (sb[3] or b"none")[:20].decode(errors="replace")
        why = "is not a number" if next_ino is None else f"is below inode {table.highest}"
        problems.append(Problem("bad-counter", 0, f"superblock next_ino {said} {why}: "
                                f"setting it to {table.highest}",
                                data={"next_ino": table.highest}))
    return problems


def _check_map(fs: FileSystem, name: bytes, entries: object, table: Table,
               limits: dict[int, int], problems: list[Problem]) -> int:
    """One block map: its inode, its entries, the blocks they name.  Returns the stored
    bytes it rightly references."""
    text = name.decode(errors="replace")
    stem = fs.keys.block_map(0)[:-1]
    ino = int(text[len(stem):]) if text[len(stem):].isdigit() else 0
    if isinstance(entries, Exception):  # WRONGTYPE: not a hash, not a map
        problems.append(Problem("wrong-type", ino, f"{text} is not a hash: deleting it",
                                data={"key": name}))
        return 0
    assert isinstance(entries, dict)
    if ino in table.corrupt:
        return sum(int(e.rsplit(b".", 1)[-1]) for e in entries.values()
                   if e.rsplit(b".", 1)[-1].isdigit())
    if ino not in limits:
        problems.append(Problem("stray-map", ino, "block map of no regular file: deleting it",
                                data={"key": name}))
        return 0
    named: list[tuple[bytes, str, int]] = []
    for field_name, entry in entries.items():
        block_id = entry_id(entry)
        index = int(field_name) if field_name.isdigit() else -1
        if block_id is None or index < 0:
            problems.append(Problem("bad-entry", ino, f"map entry {field_name[:20]!r} = "
                                    f"{entry[:40]!r} is not one: removing it",
                                    data={"map": name, "field": field_name}))
        elif index >= limits[ino]:
            problems.append(Problem("stray-block", ino, f"block {index} beyond the end of "
                                    "the file: removing it", data={"map": name,
                                                                   "field": field_name}))
        else:
            named.append((field_name, block_id, int(entry.rsplit(b".", 1)[-1])))
    pipe = fs.client.pipeline(transaction=False)
    for _, block_id, _ in named:
        pipe.exists(fs.block_key(block_id))
    gone = [f for (f, _, _), there in zip(named, pipe.execute(), strict=True) if not there]
    if gone:
        problems.append(Problem("missing-blocks", ino, f"{len(gone)} of {len(entries)} "
                                "blocks missing — evicted or deleted outside redisfs? Repair "
                                "removes their entries; the lost data is gone and reads as "
                                "zeros", data={"map": name, "fields": gone}))
    return sum(length for f, _, length in named if f not in gone)


def check_sessions(fs: FileSystem) -> list[Problem]:
    """Open handles held by sessions whose mount is dead (or never registered), and
    mount records whose heartbeat stopped."""
    mounts = list_mounts(fs.client, fs.prefix)
    live = {m.session_id for m in mounts if m.alive}
    problems = []
    sessions = set()
    with translated():
        for key in fs.client.scan_iter(match=fs.keys.pattern(SESSION), count=1000):
            session = key.decode(errors="replace").rsplit(":", 1)[-1]
            sessions.add(session)
            if session not in live and session != fs.session_id:
                problems.append(Problem("dead-session", 0, f"session {session} holds open "
                                        "handles but has no live mount: releasing them",
                                        data={"session": session}))
    for m in mounts:
        if not m.alive and m.session_id not in sessions:
            problems.append(Problem("dead-mount", 0, f"mount record of {m.host}:{m.mountpoint}"
                                    f" (pid {m.pid}) has no heartbeat for "
                                    f"{time.time() - m.heartbeat:.0f} s: deleting it",
                                    data={"session": m.session_id}))
    return problems
