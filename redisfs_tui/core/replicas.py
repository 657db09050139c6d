"""Waiting for replicas: an fsync that survives the loss of the master.

Redis replicates asynchronously, so a write the master acknowledged can vanish in a
failover.  ``WAIT n timeout`` blocks until ``n`` replicas have everything *this
connection* wrote.  A file's data may have been stored by another daemon thread
(a full write buffer, the writeback timer), so the waiting thread first PUBLISHes on
the filesystem's sync channel: that moves its connection's replication offset to the
master's current one, and WAIT then covers every write made before, by any thread.
"""

from __future__ import annotations

import errno

from .cluster import is_cluster
from .errors import FsError, translated
from .fs import FileSystem


def wait_for_replicas(fs: FileSystem, replicas: int, timeout_ms: int) -> int:
    """Block until ``replicas`` replicas hold every write made so far, on the thread's
    kept connection; EIO naming how many did when fewer answer within ``timeout_ms``."""
    if is_cluster(fs.client):
        raise FsError(errno.EOPNOTSUPP, "waiting for replicas is not supported on Redis "
                      "Cluster (WAIT must run on the connection that wrote)")
    calls = fs._calls  # the same kept connection the write scripts of this thread use
    with translated():
        replies = calls.pipeline([  # one round trip
            ("PUBLISH", fs.keys.sync_channel, fs.session_id),
            ("WAIT", replicas, max(1, timeout_ms))])
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
    acked = int(replies[1])
    if acked < replicas:
        raise FsError(errno.EIO, f"only {acked} of {replicas} replica(s) acknowledged the "
                      f"data within {timeout_ms} ms")
    return acked
