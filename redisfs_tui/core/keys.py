"""Every Redis key name of a filesystem (and of its block pool) is built here, and nowhere else.

All keys of one filesystem start with its prefix written as a Redis Cluster hash
tag (``{prefix}:``), so one filesystem lives in one cluster slot and the Lua
scripts that touch several keys stay legal on Cluster.  The Lua scripts build
key names with the prelude that :func:`lua_prelude` generates from the same
templates, so Python and Lua can never disagree on the layout.

Data blocks (format 2) live in a *pool* shared by a filesystem and its snapshots:
``{pool:<pool>.<xx>}:<id>``, where ``xx`` is two hex digits of the id's random part,
so one pool spreads over 256 cluster slots.  A prefix cannot hold a colon, so no
filesystem key can look like a pool key.
"""

from __future__ import annotations

import re

PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

# kind letter -> what the key holds (documented in docs/format.md)
SUPERBLOCK = "sb"
INODE = "i"
DIRENTS = "d"
XATTRS = "x"
BLOCK = "b"  # format 1 only: {P}:b:<ino>:<index>, converted by the upgrade
BLOCK_MAP = "k"
SNAP_COPIED = "snapcopied"
ORPHANS = "orphans"
SESSION = "s"
MOUNT = "m"
SYNC_CHANNEL = "sync"

SUPERBLOCK_SCAN_PATTERN = "{*}:" + SUPERBLOCK
MOUNT_SCAN_PATTERN = "{*}:" + MOUNT + ":*"
POOL_RE = re.compile(r"^[0-9a-f]{16}$")
BLOCK_ID_RE = re.compile(r"^[0-9a-f]{16}$")


def block_key(pool: str, block_id: str) -> str:
    """Name of one immutable pool block; ``block_id`` is 8 hex of unix time + 8 random."""
    return "{pool:" + pool + "." + block_id[8:10] + "}:" + block_id


def pool_pattern(pool: str) -> str:
    """SCAN pattern for every block of a pool."""
    return "{pool:" + pool + ".*}:*"


def parse_block_key(key: bytes | str) -> tuple[str, str] | None:
    """(pool, id) of a pool block key, else None."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    match = re.match(r"^\{pool:([0-9a-f]{16})\.([0-9a-f]{2})\}:([0-9a-f]{16})$", text)
    if match and match.group(3)[8:10] == match.group(2):
        return match.group(1), match.group(3)
    return None


def valid_prefix(prefix: str) -> bool:
    """A prefix becomes a hash tag, so braces, colons and spaces are not allowed."""
    return bool(PREFIX_RE.match(prefix))


def prefix_of_base(base: bytes | str) -> str:
    """The prefix of a key base ``{prefix}:`` as the snapshot scripts record it
    (``snap_to``, a stale copy's target)."""
    text = base.decode(errors="replace") if isinstance(base, bytes) else base
    return text[1:-2] if text.startswith("{") and text.endswith("}:") else text


def prefix_of_superblock(key: bytes | str) -> str | None:
    """Return the prefix of a superblock key found by SCAN, or None if it is not one."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    match = re.match(r"^\{(.+)\}:" + SUPERBLOCK + "$", text)
    if match and valid_prefix(match.group(1)):
        return match.group(1)
    return None


def parse_mount_key(key: bytes | str) -> tuple[str, str] | None:
    """(prefix, session) of a mount record key found by SCAN, or None."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    match = re.match(r"^\{(.+)\}:" + MOUNT + r":([^:]+)$", text)
    if match and valid_prefix(match.group(1)):
        return match.group(1), match.group(2)
    return None


class Keys:
    """Key names of one filesystem (one prefix)."""

    def __init__(self, prefix: str) -> None:
        if not valid_prefix(prefix):
            raise ValueError(
                f"invalid prefix {prefix!r}: use 1-64 characters from A-Z a-z 0-9 _ . -"
            )
        self.prefix = prefix
        self.base = "{" + prefix + "}:"
        self.superblock = self.base + SUPERBLOCK
        self.orphans = self.base + ORPHANS
        # a pub/sub channel, not a key: fsync with --sync-replicas PUBLISHes on it
        self.sync_channel = self.base + SYNC_CHANNEL
        self.snap_copied = self.base + SNAP_COPIED

    def inode(self, ino: int) -> str:
        return f"{self.base}{INODE}:{ino}"

    def dirents(self, ino: int) -> str:
        return f"{self.base}{DIRENTS}:{ino}"

    def xattrs(self, ino: int) -> str:
        return f"{self.base}{XATTRS}:{ino}"

    def block(self, ino: int, index: int) -> str:
        """Format 1's block key (the upgrade reads these)."""
        return f"{self.base}{BLOCK}:{ino}:{index}"

    def block_map(self, ino: int) -> str:
        """A regular file's block map: index -> ``<epoch>.<id>.<stored_len>``."""
        return f"{self.base}{BLOCK_MAP}:{ino}"

    def parse_inode(self, key: bytes | str) -> int | None:
        """Inode number of an inode key of this filesystem (found by SCAN), else None."""
        text = key.decode(errors="replace") if isinstance(key, bytes) else key
        stem = f"{self.base}{INODE}:"
        rest = text[len(stem):] if text.startswith(stem) else ""
        return int(rest) if rest.isdigit() else None

    def parse_block(self, key: bytes | str) -> tuple[int, int] | None:
        """(inode, index) of a block key of this filesystem, None for any other key."""
        text = key.decode(errors="replace") if isinstance(key, bytes) else key
        stem = f"{self.base}{BLOCK}:"
        if not text.startswith(stem):
            return None
        ino, _, index = text[len(stem):].partition(":")
        if not (ino.isdigit() and index.isdigit()):
            return None
        return int(ino), int(index)

    def session(self, session_id: str) -> str:
        return f"{self.base}{SESSION}:{session_id}"

    def mount(self, session_id: str) -> str:
        return f"{self.base}{MOUNT}:{session_id}"

    def pattern(self, kind: str) -> str:
        """SCAN pattern for every key of one kind (e.g. all mounts)."""
        return f"{self.base}{kind}:*"

    def all_keys_pattern(self) -> str:
        return self.base + "*"


def lua_prelude() -> str:
    """Lua helpers every script starts with; ARGV[1] is the key base ``{prefix}:``.

    Each key function takes an optional base, so a script can address a second
    filesystem (snapshot, restore) with the same templates.
    """
    return f"""
local P = ARGV[1]
local SB = P .. '{SUPERBLOCK}'
local ORPHANS = P .. '{ORPHANS}'
local function sbkey(base) return base .. '{SUPERBLOCK}' end
local function orphans_key(base) return base .. '{ORPHANS}' end
local function ikey(ino, base) return (base or P) .. '{INODE}:' .. ino end
local function dkey(ino, base) return (base or P) .. '{DIRENTS}:' .. ino end
local function xkey(ino, base) return (base or P) .. '{XATTRS}:' .. ino end
local function kkey(ino, base) return (base or P) .. '{BLOCK_MAP}:' .. ino end
local function snapcopied_key(base) return base .. '{SNAP_COPIED}' end
local function pool_block(pool, id)
  return '{{pool:' .. pool .. '.' .. string.sub(id, 9, 10) .. '}}:' .. id
end
local function skey(sid) return P .. '{SESSION}:' .. sid end
"""


# -- the original C redisfs (read only, by core/legacy) ------------------------------------
LEGACY_ROOT = -99  # the C code's inode number of "/"
LEGACY_FIELDS = (b"NAME", b"TYPE", b"MODE", b"UID", b"GID", b"SIZE", b"DATA", b"ATIME",
                 b"CTIME", b"MTIME", b"TARGET", b"LINK")
_LEGACY_KEY_RE = re.compile(rb"^(?:INODE:(-?\d+):([A-Z]+)|DIRENT:(-?\d+)|GLOBAL:INODE)$")


class LegacyKeys:
    """Key names of a tree written by the C redisfs: ``P:INODE:<n>:<FIELD>`` strings,
    ``P:DIRENT:<n>`` sets of child inode numbers and the ``P:GLOBAL:INODE`` counter.
    Its prefix was any text (no hash tag), so it is kept as bytes."""

    def __init__(self, prefix: str | bytes) -> None:
        raw = prefix.encode() if isinstance(prefix, str) else prefix
        if not raw or b"\0" in raw:
            raise ValueError(f"invalid C redisfs prefix {prefix!r}")
        self.prefix = raw
        self.base = raw + b":"
        self.global_inode = self.base + b"GLOBAL:INODE"

    def field(self, ino: int, name: bytes) -> bytes:
        return self.base + b"INODE:%d:" % ino + name

    def dirent(self, ino: int) -> bytes:
        return self.base + b"DIRENT:%d" % ino

    def scan_pattern(self) -> bytes:
        """SCAN MATCH pattern for every key of the tree (glob characters escaped)."""
        return re.sub(rb"([\\*?\[\]])", rb"\\\1", self.base) + b"*"

    def parse(self, key: bytes) -> tuple[str, int, bytes] | None:
        """("inode", n, FIELD), ("dirent", n, b"") or ("global", 0, b""); None: not ours."""
        if not key.startswith(self.base):
            return None
        match = _LEGACY_KEY_RE.match(key[len(self.base):])
        if match is None:
            return None
        if match.group(1) is not None:
            if match.group(2) not in LEGACY_FIELDS:
                return None
            return "inode", int(match.group(1)), match.group(2)
        if match.group(3) is not None:
            return "dirent", int(match.group(3)), b""
        return "global", 0, b""
