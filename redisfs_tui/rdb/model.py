"""What an RDB file holds, as plain Python values."""

from __future__ import annotations

from dataclasses import dataclass, field

# value shapes by type name:
#   string: bytes   hash: dict[bytes, bytes]   set: set[bytes]   list: list[bytes]
#   zset: list[tuple[bytes, float]]
TYPES = ("string", "list", "set", "zset", "hash")


class RdbError(ValueError):
    """The file is not a readable RDB file; the message says where and why."""


@dataclass
class RdbEntry:
    db: int
    key: bytes
    type: str
    value: object
    expire_ms: int | None = None


@dataclass
class RdbFile:
    version: int
    aux: dict[bytes, bytes] = field(default_factory=dict)
    entries: list[RdbEntry] = field(default_factory=list)
    functions: list[bytes] = field(default_factory=list)
    # keys of types this reader steps over (stream, module, zipmap): value None
    skipped: list[RdbEntry] = field(default_factory=list)
    checksum: int | None = None  # None: the file was saved with rdbchecksum no

    def keys(self, db: int = 0) -> dict[bytes, RdbEntry]:
        return {e.key: e for e in self.entries if e.db == db}
