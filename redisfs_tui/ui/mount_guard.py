"""Which mounts of a filesystem are live: registry records with a fresh heartbeat,
mounts this UI launched, and redisfs mounts in this host's mount table (read-only
mounts leave no record).  Delete and restore refuse while there are any.  No Textual.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core import FsError
from ..core.registry import list_mounts
from .mount_control import LaunchedMount, local_mounts

if TYPE_CHECKING:
    import redis


@dataclass(frozen=True)
class LiveMount:
    host: str
    mountpoint: str
    pid: int = 0

    @property
    def here(self) -> bool:
        return self.host == socket.gethostname()

    def __str__(self) -> str:
        return f"{self.host}:{self.mountpoint}" + (f" (pid {self.pid})" if self.pid else "")


def live_mounts(client: redis.Redis, prefix: str, url: str,
                launched: Iterable[LaunchedMount] = ()) -> list[LiveMount]:
    host = socket.gethostname()
    found = {(m.host, m.mountpoint): LiveMount(m.host, m.mountpoint, m.pid)
             for m in list_mounts(client, prefix) if m.alive}
    for m in launched:
        if m.prefix == prefix and m.running:
            found.setdefault((host, m.mountpoint), LiveMount(host, m.mountpoint, m.pid))
    for mountpoint in local_mounts(prefix, url):
        found.setdefault((host, mountpoint), LiveMount(host, mountpoint))
    return sorted(found.values(), key=lambda m: (not m.here, m.host, m.mountpoint))


def refuse_if_mounted(client: redis.Redis, prefix: str, url: str, doing: str,
                      launched: Iterable[LaunchedMount] = ()) -> None:
    """EBUSY naming the mounts, for the last check right before the change."""
    live = live_mounts(client, prefix, url, launched)
    if live:
        where = ", ".join(str(m) for m in live[:3])
        raise FsError(errno.EBUSY, f"{prefix} is mounted on {where}: {doing} refused; "
                      "unmount it first")
