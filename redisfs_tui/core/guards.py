"""Start-up checks for servers that would lose file data without telling anyone.

With any ``maxmemory-policy`` but ``noeviction`` a full Redis deletes keys to make
room: data blocks vanish, the files read back with zeroed runs, and ``cp`` still
exits 0.  Every tool that writes checks the policy once at start and refuses such a
server unless the user says ``--allow-eviction``.
"""

from __future__ import annotations

from typing import cast

import redis

from .cluster import is_cluster, primaries_info
from .errors import FsError, translated
from .registry import server_info

SAFE_POLICY = "noeviction"
ALLOW_FLAG = "--allow-eviction"


class EvictingServer(Exception):
    """The server may evict file data and the user did not allow it."""


def read_policy(client: redis.Redis) -> tuple[str | None, bool]:
    """(``maxmemory-policy``, whether INFO answered): from INFO memory, else CONFIG GET
    (an ACL often allows only one of them, a managed Redis renames CONFIG); the
    policy is None when neither answers."""
    def from_info() -> str | None:
        policies = [info.get("maxmemory_policy") for info in
                    primaries_info(client, "memory").values()]
        return _worst(policies)

    def from_config() -> str | None:
        if not is_cluster(client):
            return client.config_get("maxmemory-policy").get("maxmemory-policy")
        return _worst([client.config_get("maxmemory-policy", target_nodes=node)
                       .get("maxmemory-policy") for node in client.get_primaries()])

    readers = ((from_info, True), (from_config, False))
    with translated():  # an unreachable server is an error; a refused command is not
        for read, from_info in readers:
            try:
                policy = read()
            except redis.ResponseError:
                continue
            if policy:
                return str(policy), from_info
    return None, False


def _worst(policies: list) -> str | None:
    """One policy for all masters of a cluster: an evicting one wins (one master
    evicting a filesystem's keys loses its data), then an unreadable one."""
    if None in policies or not policies:
        return None
    evicting = [str(p) for p in policies if is_evicting(str(p))]
    return evicting[0] if evicting else str(policies[0])


def persistence_warning(client: redis.Redis) -> str | None:
    """A warning when the server keeps nothing across a restart (no RDB save points,
    no AOF): every filesystem on it goes with the next restart.  None when it persists,
    or when INFO/CONFIG cannot tell (an ACL, a managed Redis)."""
    try:
        info = server_info(client)
    except (FsError, redis.RedisError):
        return None
    if info.persisted or info.is_replica:
        return None
    return ("the server has no persistence (no RDB save points, appendonly no): a restart "
            "of Redis loses every filesystem on it; run CONFIG SET appendonly yes (or set "
            "save points) and CONFIG REWRITE")


def read_eviction_policy(client: redis.Redis) -> str | None:
    return read_policy(client)[0]


def is_evicting(policy: str | None) -> bool:
    """True for a policy that lets Redis delete keys when full."""
    return policy is not None and policy != SAFE_POLICY


def refusal(policy: str) -> str:
    return (f"maxmemory-policy is {policy}: Redis may evict file data; set it to "
            f"{SAFE_POLICY} (CONFIG SET maxmemory-policy {SAFE_POLICY}) or pass {ALLOW_FLAG}")


_UNREAD = object()


def check_eviction(client: redis.Redis, *, allow: bool = False, read_only: bool = False,
                   policy: str | object | None = _UNREAD) -> str | None:
    """Raise EvictingServer for an evicting server unless ``allow`` (or ``read_only``:
    what only reads cannot lose data itself); else return a warning to show, or None
    when the server is safe.  ``policy``: already read with read_policy()."""
    if policy is _UNREAD:
        policy = read_eviction_policy(client)
    policy = cast("str | None", policy)
    if policy is None:
        return ("cannot read maxmemory-policy (the Redis user may run neither INFO nor "
                f"CONFIG GET); unless it is {SAFE_POLICY}, Redis may evict file data")
    if not is_evicting(policy):
        return None
    if read_only:
        return (f"maxmemory-policy is {policy}: Redis may evict file data (files written by "
                f"others may read back with zeroed runs); set it to {SAFE_POLICY}")
    if not allow:
        raise EvictingServer(refusal(policy))
    return (f"maxmemory-policy is {policy}: Redis may evict file data (files may read back "
            f"with zeroed runs); going on because of {ALLOW_FLAG}")
