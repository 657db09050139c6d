"""What one mount needs to know: server, filesystem, mountpoint, FUSE options, caching."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import ServerSpec

DEFAULT_PREFIX = "skx"

# Metadata caching (seconds).  The kernel caches names and attributes for these
# timeouts; this process caches attributes, names and listings for ``cache_ttl``.
# Changes made through this mount are visible at once (hard-link names included:
# the mount invalidates the kernel's copies of the other names); changes made by
# another mount show after at most attr/entry timeout + cache_ttl.
DEFAULT_ENTRY_TIMEOUT = 1.0
DEFAULT_NEGATIVE_TIMEOUT = 1.0
DEFAULT_ATTR_TIMEOUT = 1.0
DEFAULT_CACHE_TTL = 1.0

# Buffered writes: a handle sends its data once it holds this many bytes (and on
# flush/fsync/close).  Large enough for whole 4 MiB write scripts, small enough that
# many open files cannot exhaust memory.
DEFAULT_WRITE_BUFFER = 8 * 1024 * 1024

# Kernel readahead for the mount (KiB): the kernel's 128 KiB default makes sequential
# reads arrive as 256 KiB requests; 1 MiB requests match the daemon's read window and
# cut a cold 64 MiB read from 0.12-0.17 s to 0.09-0.11 s here.  Set through sysfs,
# so root only; 0 leaves the kernel's value.
DEFAULT_READAHEAD_KIB = 1024

# Redis calls give up (EIO) after roughly this many seconds when the server is gone.
DEFAULT_TIMEOUT = 5.0


@dataclass
class MountConfig:
    """Everything the daemon was asked to do, after parsing flags and ``-o`` options."""

    server: ServerSpec
    mountpoint: str
    prefix: str = DEFAULT_PREFIX
    read_only: bool = False
    debug: bool = False
    foreground: bool = False
    mkfs: bool = False
    log_file: str | None = None
    fuse_options: dict[str, str | bool] = field(default_factory=dict)
    entry_timeout: float = DEFAULT_ENTRY_TIMEOUT
    negative_timeout: float = DEFAULT_NEGATIVE_TIMEOUT
    attr_timeout: float = DEFAULT_ATTR_TIMEOUT
    cache_ttl: float = DEFAULT_CACHE_TTL
    write_buffer: int = DEFAULT_WRITE_BUFFER
    readahead_kib: int = DEFAULT_READAHEAD_KIB
    timeout: float = DEFAULT_TIMEOUT
    single_threaded: bool = False
    allow_eviction: bool = False  # mount even if Redis may evict keys (maxmemory-policy)
    sync_replicas: int = 0  # fsync returns once this many replicas have the data (WAIT)
