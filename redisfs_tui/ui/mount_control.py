"""Start and stop `redisfs` mount daemons from the UI (no Textual here).

A mount runs as ``python -m redisfs_tui.cli.daemon --foreground`` in its own
session with output to a log file, so it keeps running when the UI quits.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from ..core.connection import redacted
from ..core.embedded import data_dir
from ..core.mountpoint import MountpointError, check_mountpoint
from ..mount.spawn import is_mounted

MOUNT_WAIT = 15.0


class MountError(Exception):
    """A mount or unmount failed; the message is for the user."""


@dataclass
class LaunchedMount:
    """A daemon this UI started (read-only mounts leave no registry record)."""

    prefix: str
    mountpoint: str
    read_only: bool
    pid: int
    log_path: str
    process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password, and the password (to pass in the environment:
    argv is readable by every user through /proc)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, "")), \
        unquote(parts.password)


def mount_source(prefix: str, url: str) -> str:
    """The source name a redisfs mount of ``prefix`` on ``url`` shows in /proc/mounts
    (``prefix@host:port`` or ``prefix@/socket/path``, as the daemon builds it)."""
    parts = urlsplit(url)
    label = parts.path if parts.scheme == "unix" else \
        f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    return re.sub(r"[,\s]", "_", f"{prefix}@{label}")


def local_mounts(prefix: str, url: str, mounts_text: str | None = None) -> list[str]:
    """Mountpoints on this host where ``prefix`` of the server ``url`` is mounted, read
    from /proc/self/mounts (this also finds read-only mounts, which leave no record)."""
    if mounts_text is None:
        try:
            with open("/proc/self/mounts", encoding="utf-8", errors="replace") as handle:
                mounts_text = handle.read()
        except OSError:
            return []
    source = mount_source(prefix, url)
    found = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "fuse.redisfs" and fields[0] == source:
            found.append(fields[1].replace("\\040", " "))
    return found


def log_dir() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def daemon_command(url: str, prefix: str, mountpoint: str, read_only: bool,
                   username: str | None = None, password_file: str | None = None,
                   log_path: str | None = None, allow_eviction: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "redisfs_tui.cli.daemon", "--url", url, "--prefix", prefix,
           "--mount", mountpoint, "--foreground"]
    if log_path:
        cmd += ["--log-file", log_path]
    if read_only:
        cmd.append("--read-only")
    if username:
        cmd += ["--username", username]
    if password_file:
        cmd += ["--password-file", password_file]
    if allow_eviction:  # the user started redisfs-ui with --allow-eviction
        cmd.append("--allow-eviction")
    return cmd


def tail(path: str, lines: int = 200) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def launch_mount(url: str, prefix: str, mountpoint: str, read_only: bool = False,
                 username: str | None = None, password_file: str | None = None,
                 wait: float = MOUNT_WAIT, env: dict[str, str] | None = None,
                 allow_eviction: bool = False, allow_nonempty: bool = False) -> LaunchedMount:
    """Start the daemon and wait until the mountpoint is mounted (or it fails).
    A directory that is not empty is refused unless ``allow_nonempty``."""
    try:  # the daemon's own check: not mounted already, a directory, empty
        mountpoint = check_mountpoint(os.path.expanduser(mountpoint),
                                      allow_nonempty=allow_nonempty)
    except MountpointError as exc:
        raise MountError(str(exc)) from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = str(log_dir() / f"mount-{prefix}-{stamp}-{os.getpid()}.log")
    cmd = daemon_command(url, prefix, mountpoint, read_only, username, password_file, log_path,
                         allow_eviction)
    if allow_nonempty:
        cmd += ["-o", "nonempty"]
    with open(log_path, "ab") as log:
        shown = " ".join(redacted(part) if "://" in part else part for part in cmd)
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} redisfs-ui runs: {shown}\n".encode())
        log.flush()
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if is_mounted(mountpoint):
            return LaunchedMount(prefix, mountpoint, read_only, process.pid, log_path, process)
        if process.poll() is not None:
            raise MountError(f"redisfs exited with status {process.returncode}: "
                             f"{tail(log_path, 3) or 'no output'}")
        time.sleep(0.05)
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    raise MountError(f"{mountpoint} was not mounted after {wait:.0f}s: {tail(log_path, 3)}")


def unmount(mountpoint: str, host: str | None = None, wait: float = 10.0) -> None:
    """``fusermount3 -u`` (then ``umount``) the mountpoint on this host."""
    if host and host != socket.gethostname():
        raise MountError(f"that mount is on host {host}; unmount it there")
    if not is_mounted(mountpoint):
        raise MountError(f"{mountpoint} is not mounted")
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    cmd = [tool, "-u", mountpoint] if tool else ["umount", mountpoint]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=wait, check=False)
    if result.returncode != 0:
        raise MountError(result.stderr.strip() or f"{cmd[0]} failed ({result.returncode})")
    deadline = time.monotonic() + wait
    while is_mounted(mountpoint) and time.monotonic() < deadline:
        time.sleep(0.05)
