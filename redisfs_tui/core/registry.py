"""What is on a server: filesystems (by superblock), live mounts, server status.

Mount records live in ``{prefix}:m:<session>`` hashes with a heartbeat time; a
record whose heartbeat is older than ``DEAD_AFTER`` belongs to a mount that died
without unmounting (its open handles are released by ``reap_dead_mounts``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from .cluster import config_get, primaries_info
from .errors import FsError, translated
from .keys import (
    MOUNT,
    MOUNT_SCAN_PATTERN,
    SUPERBLOCK_SCAN_PATTERN,
    Keys,
    parse_mount_key,
    pool_pattern,
    prefix_of_base,
    prefix_of_superblock,
)
from .pool import exclusive_blocks, gc, members, unlink_keys

if TYPE_CHECKING:
    from .fs import FileSystem

HEARTBEAT_SECONDS = 5.0
DEAD_AFTER = 3 * HEARTBEAT_SECONDS


@dataclass(frozen=True)
class FsSummary:
    """One filesystem as the Filesystems view lists it."""

    prefix: str
    format_version: int
    block_size: int
    codec: str
    created_ns: int
    uuid: str
    inodes: int
    logical_bytes: int
    stored_bytes: int
    snapshot_of: str
    incomplete: bool = False  # a snapshot copy into it has not finished: not mountable
    snapshot_to: str = ""  # the prefix a snapshot of it is being copied into, if any

    @property
    def compression_ratio(self) -> float:
        """Logical bytes per stored byte (>1 means compression saves space)."""
        return self.logical_bytes / self.stored_bytes if self.stored_bytes else 1.0


@dataclass(frozen=True)
class ServerInfo:
    version: str
    role: str
    used_memory: int
    maxmemory: int
    maxmemory_policy: str
    rdb_last_save: int
    rdb_changes_since_last_save: int
    rdb_last_bgsave_ok: bool
    aof_enabled: bool
    save_config: str
    connected_replicas: int

    @property
    def persisted(self) -> bool:
        """False when neither RDB snapshots nor AOF would survive a restart."""
        return self.aof_enabled or bool(self.save_config.strip())

    @property
    def is_replica(self) -> bool:
        return self.role in ("slave", "replica")


@dataclass(frozen=True)
class MountRecord:
    session_id: str
    prefix: str
    host: str
    pid: int
    mountpoint: str
    read_only: bool
    started: float
    heartbeat: float
    log_path: str

    @property
    def alive(self) -> bool:
        return time.time() - self.heartbeat < DEAD_AFTER


def _summary(prefix: str, sb: dict[bytes, bytes]) -> FsSummary:
    def num(field: bytes) -> int:
        return int(sb.get(field) or 0)

    def text(field: bytes) -> str:
        return (sb.get(field) or b"").decode(errors="replace")

    return FsSummary(prefix, num(b"format_version"), num(b"block_size"), text(b"codec"),
                     num(b"created"), text(b"uuid"), num(b"inodes"), num(b"logical_bytes"),
                     num(b"stored_bytes"), text(b"snapshot_of"), bool(sb.get(b"incomplete")),
                     prefix_of_base(text(b"snap_to")))


def list_filesystems(client: redis.Redis) -> list[FsSummary]:
    """Every filesystem on the server, found by SCANning for superblocks (never KEYS)."""
    found = []
    with translated():
        for key in client.scan_iter(match=SUPERBLOCK_SCAN_PATTERN, count=1000):
            prefix = prefix_of_superblock(key)
            if prefix is None:
                continue
            try:
                sb = client.hgetall(key)
            except redis.ResponseError:
                continue  # a key that only looks like a superblock (WRONGTYPE)
            if sb and b"format_version" in sb:
                try:
                    found.append(_summary(prefix, sb))
                except ValueError:
                    continue  # damaged superblock: not a filesystem we can list
    return sorted(found, key=lambda s: s.prefix)


def delete_filesystem(client: redis.Redis, prefix: str, batch: int = 1000,
                      force: bool = False) -> int:
    """Delete every key of a filesystem, and the pool blocks only it references (all
    of the pool when no snapshot shares it); the superblock goes first so nobody mounts it
    half-deleted.  Returns the number of keys removed.  The keys of a filesystem whose
    superblock is already gone are deleted too (mkfs refuses to build over them).

    Refused (EBUSY) while a live mount record exists, unless ``force``: the mount would
    go on serving, and writing into, a filesystem whose keys vanish under it.
    """
    keys = Keys(prefix)
    removed = 0
    live = [m for m in list_mounts(client, prefix) if m.alive]
    if live and not force:
        where = ", ".join(f"{m.host}:{m.mountpoint} (pid {m.pid})" for m in live[:3])
        raise FsError(errno.EBUSY, f"filesystem {prefix!r} is mounted on {where}; unmount "
                      "it first (force the delete only if that mount is really gone)")
    with translated():
        pool = client.hget(keys.superblock, "pool") if client.type(keys.superblock) == b"hash" \
            else None
    exclusive = exclusive_blocks(client, prefix)  # read before the maps go
    with translated():
        removed += client.delete(keys.superblock)  # none: leftovers of a lost superblock
        chunk: list[bytes] = []
        for key in client.scan_iter(match=keys.all_keys_pattern(), count=batch):
            chunk.append(key)
            if len(chunk) >= batch:
                removed += client.unlink(*chunk)
                chunk = []
        if chunk:
            removed += client.unlink(*chunk)
    if not removed:
        raise FsError(errno.ENOENT, f"no filesystem {prefix!r}")
    unlink_keys(client, exclusive)
    if pool and not members(client, pool.decode(errors="replace")):
        unlink_keys(client, list(client.scan_iter(match=pool_pattern(pool.decode()),
                                                  count=batch)))  # the last one: all of it
    elif pool:
        gc(client, pool.decode(errors="replace"))  # what only it still referenced
    return removed


def server_info(client: redis.Redis) -> ServerInfo:
    """The server's status; a cluster's is summed over its masters (see _cluster_info)."""
    with translated():
        nodes = primaries_info(client)
        try:
            save = config_get(client, "save").get("save", "")
        except redis.ResponseError:  # CONFIG may be denied by ACL or renamed
            save = "unknown"
    info = nodes["server"] if "server" in nodes else _cluster_info(nodes)
    return ServerInfo(
        version=str(info.get("redis_version", "?")),
        role=str(info.get("role", "?")),
        used_memory=int(info.get("used_memory", 0)),
        maxmemory=int(info.get("maxmemory", 0)),
        maxmemory_policy=str(info.get("maxmemory_policy", "?")),
        rdb_last_save=int(info.get("rdb_last_save_time", 0)),
        rdb_changes_since_last_save=int(info.get("rdb_changes_since_last_save", 0)),
        rdb_last_bgsave_ok=info.get("rdb_last_bgsave_status", "ok") == "ok",
        aof_enabled=bool(int(info.get("aof_enabled", 0))),
        save_config=str(save),
        connected_replicas=int(info.get("connected_slaves", 0)),
    )


def _cluster_info(nodes: dict[str, dict]) -> dict:
    """One INFO for a whole cluster: memory summed, persistence as weak as its weakest
    master (the oldest save, every unsaved change, AOF only if on everywhere)."""
    infos = list(nodes.values())
    policies = {str(i.get("maxmemory_policy", "?")) for i in infos}
    limits = [int(i.get("maxmemory", 0)) for i in infos]
    return {
        "redis_version": infos[0].get("redis_version", "?"),
        "role": f"cluster of {len(infos)} masters ({', '.join(sorted(nodes))})",
        "used_memory": sum(int(i.get("used_memory", 0)) for i in infos),
        "maxmemory": sum(limits) if all(limits) else 0,
        "maxmemory_policy": ", ".join(sorted(policies)),
        "rdb_last_save_time": min(int(i.get("rdb_last_save_time", 0)) for i in infos),
        "rdb_changes_since_last_save": sum(int(i.get("rdb_changes_since_last_save", 0))
                                           for i in infos),
        "rdb_last_bgsave_status": "ok" if all(i.get("rdb_last_bgsave_status", "ok") == "ok"
                                              for i in infos) else "err",
        "aof_enabled": int(all(int(i.get("aof_enabled", 0)) for i in infos)),
        "connected_slaves": sum(int(i.get("connected_slaves", 0)) for i in infos),
    }


class MountRegistration:
    """Keeps a mount's record fresh from a daemon thread until stop()."""

    def __init__(self, client: redis.Redis, keys: Keys, session_id: str, fields: dict) -> None:
        self._client = client
        self._key = keys.mount(session_id)
        self._stop = threading.Event()
        with translated():
            client.hset(self._key, mapping=fields)
        self._thread = threading.Thread(target=self._beat, name="redisfs-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._client.hset(self._key, "heartbeat", repr(time.time()))
            except redis.RedisError:
                continue  # Redis away: the mount goes on; the next beat retries

    def stop(self) -> None:
        """Remove the record (a clean unmount is not a dead mount)."""
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(redis.RedisError):
            self._client.delete(self._key)


def register_mount(
    fs: FileSystem, mountpoint: str, log_path: str = ""
) -> MountRegistration | None:
    """Record a read-write mount; a read-only mount writes nothing and is not recorded."""
    if fs.read_only:
        return None
    now = repr(time.time())
    fields = {"host": socket.gethostname(), "pid": os.getpid(), "mountpoint": mountpoint,
              "ro": 0, "started": now, "heartbeat": now, "log": log_path}
    return MountRegistration(fs.client, fs.keys, fs.session_id, fields)


def list_mounts(client: redis.Redis, prefix: str | None = None) -> list[MountRecord]:
    """Mount records of one filesystem, or of every filesystem on the server (one SCAN
    either way; a damaged record is skipped, not fatal)."""
    pattern = Keys(prefix).pattern(MOUNT) if prefix else MOUNT_SCAN_PATTERN
    records = []
    with translated():
        for key in client.scan_iter(match=pattern, count=1000):
            parsed = parse_mount_key(key)
            if parsed is None:
                continue
            try:
                raw = {k.decode(): v.decode(errors="replace")
                       for k, v in client.hgetall(key).items()}
                if raw:
                    records.append(_mount_record(*parsed, raw))
            except (redis.ResponseError, ValueError):
                continue  # WRONGTYPE or fields that are not numbers: not one of ours
    return sorted(records, key=lambda r: (r.prefix, r.started))


def _mount_record(prefix: str, session: str, raw: dict[str, str]) -> MountRecord:
    return MountRecord(
        session_id=session, prefix=prefix, host=raw.get("host", "?"),
        pid=int(raw.get("pid", 0) or 0), mountpoint=raw.get("mountpoint", ""),
        read_only=raw.get("ro") == "1", started=float(raw.get("started", 0) or 0),
        heartbeat=float(raw.get("heartbeat", 0) or 0), log_path=raw.get("log", ""))


def reap_dead_mounts(fs: FileSystem) -> int:
    """Release the open handles of dead mounts of ``fs`` and drop their records."""
    purged = 0
    for record in list_mounts(fs.client, fs.prefix):
        if not record.alive:
            purged += fs.reap_session(record.session_id)
            with translated():
                fs.client.delete(fs.keys.mount(record.session_id))
    return purged
