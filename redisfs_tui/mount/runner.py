"""The daemon's life: check everything that can be checked before mounting, detach
once the mount is live, register the mount in Redis, unmount cleanly.

Detaching is done here rather than by libfuse: the parent forks before any thread
exists, the child mounts in the foreground, and the parent exits 0 only when the
child's FUSE ``init`` ran (the mount is live) -- or with the child's error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import redis

from ..core import FileSystem, FsError, Keys, NoSuchFilesystem, connect, redacted
from ..core.access import AccessDenied, check_access
from ..core.cluster import is_cluster
from ..core.connection import multi_host
from ..core.guards import EvictingServer, check_eviction, persistence_warning, read_policy
from ..core.registry import list_mounts, reap_dead_mounts, register_mount
from .config import MountConfig
from .logsetup import NOTICE_LOGGER, LogSetup
from .lowlevel import Session, library_version
from .operations import RedisFsOperations
from .redisio import tune, tune_malloc
from .requests import Requests
from .trace import instrument

log = logging.getLogger("redisfs")
notice = logging.getLogger(NOTICE_LOGGER)  # what went right, shown without --debug too


class MountError(Exception):
    """A problem the user can fix; printed without a traceback."""


def server_label(url: str) -> str:
    """host:port (or the socket path) for messages and the mount's source name."""
    if multi_host(url):  # cluster/sentinel: the host list, commas cut (-o splits at them)
        rest = url.partition("://")[2].rpartition("@")[2]
        return rest.replace(",", "+")
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def check_mountpoint(path: str, allow_nonempty: bool = True) -> str:
    """The absolute mountpoint, or MountError: missing, not a directory, or already a
    mount point (found in /proc/self/mountinfo, never by a stat that could hang).
    Whether a non-empty directory is refused is the command line's decision
    (``-o nonempty``): ``redisfs`` checks that before calling ``run``."""
    from ..core.mountpoint import MountpointError
    from ..core.mountpoint import check_mountpoint as check

    try:
        return check(path, allow_nonempty=allow_nonempty)
    except MountpointError as exc:
        raise MountError(str(exc)) from None


def is_replica(client: redis.Redis) -> bool:
    """True when INFO says role:slave; unknown (ACL forbids INFO) counts as not a replica."""
    if is_cluster(client):
        return False  # the cluster client talks to masters only
    try:
        return client.info("replication").get("role") in ("slave", "replica")
    except redis.RedisError:
        return False


def open_filesystem(config: MountConfig) -> FileSystem:
    """Connect, decide read-only, create the filesystem if asked, and open it."""
    spec = replace(config.server, socket_timeout=config.timeout,
                   connect_timeout=min(config.timeout, 2.0))
    where = redacted(spec.url)
    try:
        client = connect(spec, replica=config.read_only)  # Sentinel: a replica if one is up
    except FsError as exc:
        raise MountError(f"cannot connect to Redis at {where}: {exc.strerror}") from exc
    if config.sync_replicas and is_cluster(client):
        raise MountError(f"{where}: --sync-replicas is not supported on Redis Cluster")
    tune(client)
    read_only = config.read_only
    if not read_only and is_replica(client):
        log.warning("%s is a read-only replica: mounting read-only", where)
        read_only = True
    try:
        policy, info_allowed = read_policy(client)
        warning = check_eviction(client, allow=config.allow_eviction, read_only=read_only,
                                 policy=policy)
    except EvictingServer as exc:
        raise MountError(f"{where}: {exc}") from None
    except FsError as exc:
        raise MountError(f"{where}: {exc.strerror}") from exc
    if warning:
        log.warning("%s: %s", where, warning)
    if not read_only and (unpersisted := persistence_warning(client)):
        log.warning("%s: %s", where, unpersisted)
    try:
        check_access(client, Keys(config.prefix), read_only=read_only,
                     user=spec.username or "default")
    except AccessDenied as exc:
        raise MountError(f"{where}: {exc}") from None
    except FsError as exc:
        raise MountError(f"{where}: {exc.strerror}") from exc
    try:
        if config.mkfs:
            try:
                FileSystem(client, config.prefix)
            except NoSuchFilesystem:
                if read_only:
                    raise MountError("cannot create a filesystem on a read-only mount") from None
                FileSystem.mkfs(client, config.prefix, uid=os.getuid(), gid=os.getgid())
                notice.info("created filesystem %r on %s", config.prefix, where)
        fs = FileSystem(client, config.prefix, read_only=read_only)
        fs.memory_info = info_allowed  # df shows Redis memory when INFO may be asked
        return fs
    except NoSuchFilesystem as exc:
        raise MountError(
            f"no filesystem {config.prefix!r} on {where}; create it with:\n"
            f"  redisfs --mkfs --url={where} --prefix={config.prefix} --mount={config.mountpoint}"
        ) from exc
    except FsError as exc:
        raise MountError(f"{where}: {exc.strerror}") from exc


def reap_at_start(fs: FileSystem) -> None:
    """Release what mounts that died without unmounting still hold (docs/format.md):
    their unlinked-but-open files would stay until someone ran fsck.  Best effort."""
    if fs.read_only:
        return
    try:
        dead = [m for m in list_mounts(fs.client, fs.prefix) if not m.alive]
        if dead:
            purged = reap_dead_mounts(fs)
            log.warning("released the open files of %d dead mount(s) (%s); %d orphan(s) "
                        "freed", len(dead), ", ".join(f"{m.host}:{m.mountpoint}"
                                                      for m in dead[:3]), purged)
    except FsError as exc:
        log.warning("could not release the files of dead mounts: %s", exc.strerror or exc)


# libfuse's high-level options, which its low-level API refuses: the ones that have a
# redisfs equivalent are read by the command line (config.py); these are dropped
HIGH_LEVEL_OPTIONS = {"use_ino", "readdir_ino", "auto_cache", "noauto_cache", "kernel_cache",
                      "hard_remove", "big_writes", "max_idle_threads", "max_threads",
                      "nonempty", "direct_io", "ac_attr_timeout", "intr", "remember"}
THREADS = 16  # libfuse workers serving requests (Redis round trips overlap across them)


def fuse_options(config: MountConfig, fs: FileSystem) -> list[str]:
    """-o options for libfuse and the kernel: ours first, then the user's."""
    opts: dict[str, str | bool] = {
        "fsname": re.sub(r"[,\s]", "_", f"{fs.prefix}@{server_label(config.server.url)}"),
        "subtype": "redisfs",
        "default_permissions": True,  # the kernel checks modes; we never see EACCES cases
        "noatime": True,  # reads never write; atime changes only through utimens
    }
    if {"atime", "relatime", "strictatime"} & set(config.fuse_options):
        del opts["noatime"]
    for key, value in config.fuse_options.items():
        if key.split("=", 1)[0] in HIGH_LEVEL_OPTIONS:
            log.info("-o %s: not needed with redisfs, ignored", key)
            continue
        opts[key] = value
    if fs.read_only:
        opts["ro"] = True
    opts.pop("rw", None)
    return [key if value is True else f"{key}={value}" for key, value in opts.items()
            if value is not False]


def mount_device(mountpoint: str) -> str | None:
    """'major:minor' of the filesystem mounted at ``mountpoint``, from /proc/self/mountinfo
    (stat() of the mountpoint from inside FUSE's init would wait for ourselves)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    escaped = mountpoint.replace("\\", "\\134")
    for char, code in ((" ", "\\040"), ("\t", "\\011"), ("\n", "\\012")):
        escaped = escaped.replace(char, code)
    found = None
    for line in lines:  # the last entry wins: it is the one on top
        fields = line.split(" ")
        if len(fields) > 4 and fields[4] == escaped:
            found = fields[2]
    return found


def set_readahead(mountpoint: str, kib: int) -> None:
    """Raise the kernel's readahead for the mount (see config.DEFAULT_READAHEAD_KIB).
    Best effort: only root may write sysfs, and the mount works either way."""
    device = mount_device(mountpoint) if kib else None
    if device is None:
        return
    try:
        with open(f"/sys/class/bdi/{device}/read_ahead_kb", "w", encoding="ascii") as handle:
            handle.write(f"{kib}\n")
    except OSError as exc:
        log.debug("readahead left at the kernel's default: %s", exc)


def run(config: MountConfig) -> int:
    """Mount and serve until unmounted.  Returns the process exit status."""
    try:
        logs = LogSetup(config.debug, config.log_file, config.prefix)
    except OSError as exc:
        raise MountError(f"cannot write the log file {config.log_file}: {exc.strerror}") \
            from None
    config.mountpoint = check_mountpoint(config.mountpoint)
    fs = open_filesystem(config)
    reap_at_start(fs)
    ready_fd: int | None = None
    if not config.foreground:
        try:
            logs.prepare_detached()
        except OSError as exc:
            raise MountError(f"cannot open a log file ({exc.strerror}); pass --log-file") \
                from None
        ready_fd, status = _fork()
        if ready_fd is None:
            return status
    tune_malloc()
    ops = RedisFsOperations(fs, config)
    instrument(ops, config.debug)
    registration: list[Any] = []
    live: list[bool] = []

    def on_ready() -> None:
        live.append(True)
        set_readahead(config.mountpoint, config.readahead_kib)
        notice.info("mounted %s on %s (libfuse %s%s)", fs.prefix, config.mountpoint,
                 library_version(), ", read-only" if fs.read_only else "")
        with contextlib.suppress(FsError):
            reg = register_mount(fs, config.mountpoint, logs.location)
            if reg is not None:
                registration.append(reg)
        if ready_fd is not None:
            _report_ready(ready_fd)
            logs.detached()

    def on_shutdown() -> None:
        for reg in registration:
            reg.stop()

    ops.on_ready = on_ready
    ops.on_shutdown = on_shutdown
    requests = Requests(ops, config.entry_timeout, config.attr_timeout,
                        config.negative_timeout)
    session = Session(requests.table(), config.mountpoint, fuse_options(config, fs))
    requests.session = session
    ops.kernel = session.kernel
    try:
        session.run(None if config.single_threaded else THREADS)
    except OSError as exc:
        raise MountError(f"{exc.strerror} (see the messages above)") from exc
    finally:
        fs.client.close()
    if requests.critical is not None:
        raise requests.critical
    if not live:
        raise MountError(f"mounting on {config.mountpoint} failed")
    return 0


def _fork() -> tuple[int | None, int]:
    """Fork.  Child: (pipe fd to report readiness on, 0).  Parent: (None, exit status),
    after the child reported the mount live or died trying."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.setsid()
        os.chdir("/")
        return write_fd, 0
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        answer = pipe.read()
    if answer.startswith(b"ok"):
        return None, 0
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return None, code if code > 0 else 1


def _report_ready(fd: int) -> None:
    """Tell the waiting parent the mount is live, then let go of the terminal."""
    with contextlib.suppress(OSError):
        os.write(fd, b"ok\n")
    with contextlib.suppress(OSError):
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    os.close(devnull)

