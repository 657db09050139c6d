"""Filesystem errors carry an errno, so FUSE and the UI can report them precisely."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

import redis


class FsError(OSError):
    """An error with the errno a POSIX filesystem would return."""

    def __init__(self, code: int, detail: str = "") -> None:
        message = os.strerror(code) + (f": {detail}" if detail else "")
        super().__init__(code, message)


class NoSuchFilesystem(FsError):
    """The prefix has no superblock on this server."""

    def __init__(self, prefix: str) -> None:
        super().__init__(
            errno.ENOENT,
            f"no filesystem with prefix {prefix!r} on this server "
            f"(create it with: redisfs --mkfs --prefix={prefix} ...)",
        )


class UnsupportedFormat(FsError):
    """The superblock declares a format this version cannot read safely."""

    def __init__(self, prefix: str, version: int, supported: int) -> None:
        self.version = version  # the UI offers the upgrade of an older one
        if 1 <= version < supported:
            why = (f"filesystem {prefix!r} has the old on-Redis format {version}; this redisfs "
                   f"uses format {supported}: convert it once with `redisfs-snapshot "
                   f"--upgrade={prefix}` (unmount it everywhere first)")
        else:
            why = (f"filesystem {prefix!r} has format version {version}; this redisfs "
                   f"understands up to {supported} — upgrade redisfs to use it")
        super().__init__(errno.EPROTONOSUPPORT, why)


class RedisUnavailable(FsError):
    """The server could not be reached within the retry budget."""

    def __init__(self, detail: str) -> None:
        super().__init__(errno.EIO, f"Redis unavailable ({detail})")


_ERRNO_BY_NAME = {name: code for code, name in errno.errorcode.items()}
# what Redis and its Lua runtime say when stored values are not what the format says
DAMAGE_SIGNS = ("WRONGTYPE", "value is not an integer", "attempt to compare",
                "attempt to perform arithmetic", "bad argument #", "attempt to concatenate")


def errno_from_reply(message: str) -> FsError:
    """Turn a Redis error reply into an FsError.

    Our Lua scripts answer ``-ENOENT`` style errors; the server itself may say
    OOM (maxmemory reached), READONLY (a replica), NOPERM (ACL) and so on.
    """
    word, _, said = message.partition(" ")
    word = word.strip()
    if word in _ERRNO_BY_NAME:  # a script may say why after the code (superblock missing)
        return FsError(_ERRNO_BY_NAME[word], said.strip()[:200])
    if word == "OOM" or "maxmemory" in message:
        return FsError(errno.ENOSPC, "Redis is full (maxmemory reached)")
    if word == "READONLY" or "read only replica" in message:
        return FsError(errno.EROFS, "the server is a read-only replica")
    if word == "NOPERM" or "no permissions" in message:
        return FsError(errno.EACCES, "the Redis user may not run this command")
    if word in ("NOAUTH", "WRONGPASS"):
        return FsError(errno.EACCES, "Redis authentication failed")
    if word == "BUSY":
        return FsError(errno.EAGAIN, "Redis is busy running a script")
    if any(sign in message for sign in DAMAGE_SIGNS):
        # a key of the wrong type, or a field a script could not read as a number: the
        # stored data is not what the format says (ext4 calls this EUCLEAN; run fsck)
        return FsError(errno.EUCLEAN, f"damaged filesystem data: {message[:200]}")
    return FsError(errno.EIO, f"Redis error: {message[:200]}")


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Convert redis-py exceptions raised inside the block into FsError."""
    try:
        yield
    except FsError:
        raise
    except redis.AuthenticationError as exc:
        raise FsError(errno.EACCES, "Redis authentication failed") from exc
    except redis.exceptions.ReadOnlyError as exc:
        # redis-py strips the READONLY code word: without this a write refused by a
        # replica (a demoted master) looked like any other error, EIO
        raise FsError(errno.EROFS, "the server is a read-only replica") from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # redis-py says which address and why ("Connection refused"), never the password;
        # Sentinel's "No master found for 'svc' : <repr of the sentinels>" loses the repr
        said = str(exc).split(" : <", 1)[0]
        raise RedisUnavailable(said[:200] or type(exc).__name__) from exc
    except redis.ResponseError as exc:
        raise errno_from_reply(str(exc)) from exc
    except redis.RedisError as exc:
        raise FsError(errno.EIO, f"Redis error: {type(exc).__name__}") from exc
    except redis.exceptions.RedisClusterException as exc:
        # redis-py's cluster client raises these outside RedisError (cross-slot
        # commands, no node for a slot); the message names no password
        said = str(exc).replace(" Please provide at least one reachable node:", "")
        if not said.startswith("Redis Cluster"):
            said = f"Redis Cluster: {said}"
        raise FsError(errno.EIO, said[:200]) from exc
