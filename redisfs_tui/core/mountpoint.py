"""Is a directory fit to mount on?  Shared by the daemon and the UI (no FUSE here).

A path that is already a mount point is recognised from ``/proc/self/mountinfo``
before anything looks inside it: a stat() of a FUSE mount whose daemon hangs would
hang too, and mounting again would silently stack a second filesystem on top.
"""

from __future__ import annotations

import errno
import os
import stat


class MountpointError(Exception):
    """The directory cannot be mounted on; the message says why and what to do."""


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounts_at(path: str, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """File system types mounted exactly at ``path`` (an absolute path), bottom first."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4 and _unescape(fields[4]) == path:
            _, _, rest = line.partition(" - ")
            found.append(rest.split(" ", 1)[0] or "unknown")
    return found


def _refuse_if_mounted(path: str) -> None:
    kinds = mounts_at(path)
    if kinds:
        fuse = kinds[-1].startswith("fuse")
        how = f"fusermount3 -u {path}" if fuse else f"umount {path}"
        raise MountpointError(
            f"{path} is already a mount point ({kinds[-1]}); mounting again would hide it. "
            f"Unmount it first (a dead mount too) with: {how}")


def check_mountpoint(path: str, allow_nonempty: bool = False) -> str:
    """The absolute mountpoint, or MountpointError when it does not exist, is not a
    directory, is already a mount point, or (unless ``allow_nonempty``) holds files
    that the mount would hide."""
    mountpoint = os.path.abspath(path)  # lexical: nothing inside a mount is looked at
    _refuse_if_mounted(mountpoint)
    try:
        real = os.path.realpath(mountpoint, strict=True)
        if real != mountpoint:  # a symlink to a mount point stacks just the same
            _refuse_if_mounted(real)
        st = os.stat(real)
    except FileNotFoundError:
        raise MountpointError(
            f"mountpoint {mountpoint} does not exist (create it with mkdir -p)") from None
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            raise MountpointError(f"{mountpoint} is a dead FUSE mount; clean it up with: "
                                  f"fusermount3 -u {mountpoint}") from None
        raise MountpointError(f"mountpoint {mountpoint}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise MountpointError(f"mountpoint {mountpoint} is not a directory")
    if not allow_nonempty:
        try:
            with os.scandir(real) as entries:
                busy = next(entries, None) is not None
        except OSError as exc:
            raise MountpointError(f"mountpoint {mountpoint}: {exc.strerror}") from None
        if busy:
            raise MountpointError(
                f"mountpoint {mountpoint} is not empty: its files would be hidden while "
                f"mounted. Use an empty directory, or pass -o nonempty to mount anyway")
    return mountpoint
