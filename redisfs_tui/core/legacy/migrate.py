"""Write a planned C redisfs tree into a new filesystem, all or nothing.

Everything goes through the public FileSystem API (mkfs, mkdir, create, write,
symlink, link, set_attributes), never by writing keys, so the migration stays right
whatever the on-Redis format becomes.  Any failure, Ctrl-C or cancel deletes the
half-made filesystem before the error goes on.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable

import redis

from ..attrs import ROOT_INO
from ..errors import FsError, translated
from ..fs import FileSystem
from ..keys import LEGACY_ROOT, Keys, valid_prefix
from ..registry import delete_filesystem
from .plan import C_PREFIX_MAX, Plan, Report, build_plan
from .source import LegacySource, shown

Progress = Callable[[int, int, str], None]  # (entries done, entries in all, name)


def migrate(client: redis.Redis, source: LegacySource, target: str, *,
            progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
            dry_run: bool = False) -> Report:
    """Convert the C redisfs tree ``source`` into the new filesystem ``target`` on
    ``client``'s server and return the report.  EEXIST if ``target`` exists; ENOENT if
    the source holds no C redisfs key; ECANCELED when ``cancelled()`` turns true."""
    if not valid_prefix(target):
        raise FsError(errno.EINVAL, f"invalid target prefix {target!r}: use 1-64 "
                                    "characters from A-Z a-z 0-9 _ . -")
    if not dry_run:  # a dry run only reads: it may check a tree already migrated
        _refuse_existing(client, target)
    read = source.read()
    if not read.keys:
        hint = ""
        if len(read.prefix) > C_PREFIX_MAX:
            hint = (f" (the C redisfs kept only the first {C_PREFIX_MAX} characters of "
                    f"--prefix: try {shown(read.prefix[:C_PREFIX_MAX])})")
        raise FsError(errno.ENOENT, f"no {source.describe}: no key matches "
                                    f"{shown(read.prefix + b':*')}{hint}")
    plan = build_plan(read, source.describe, target, time.time_ns())
    if dry_run:
        return plan.report
    fs = FileSystem.mkfs(client, target)  # EEXIST if it appeared meanwhile: not ours
    try:
        _write(fs, source, plan, progress, cancelled)
    except BaseException:
        with contextlib.suppress(Exception):
            delete_filesystem(client, target, force=True)
        raise
    plan.report.written = True
    return plan.report


def _refuse_existing(client: redis.Redis, target: str) -> None:
    keys = Keys(target)
    with translated():
        if client.exists(keys.superblock):
            raise FsError(errno.EEXIST, f"filesystem {target!r} already exists: migrate "
                                        "into a new name")
        stray = next(client.scan_iter(match=keys.all_keys_pattern(), count=1000), None)
    if stray is not None:
        raise FsError(errno.EEXIST, f"keys of prefix {target!r} exist without a filesystem "
                                    f"(first: {shown(stray)}); delete them first")


def _write(fs: FileSystem, source: LegacySource, plan: Plan, progress: Progress | None,
           cancelled: Callable[[], bool] | None) -> None:
    new = {LEGACY_ROOT: ROOT_INO}  # C inode -> inode in the new filesystem
    total = len(plan.nodes) + len(plan.links)
    done = 0

    def step(name: bytes) -> None:
        nonlocal done
        if cancelled is not None and cancelled():
            raise FsError(errno.ECANCELED, "migration cancelled: nothing was kept")
        if progress is not None:
            progress(done, total, name.decode(errors="replace"))
        done += 1

    for node in plan.nodes:
        step(node.name)
        parent = new[node.parent]
        if node.kind == "dir":
            attr = fs.mkdir(parent, node.name, node.perm, node.uid, node.gid)
        elif node.kind == "symlink":
            attr = fs.symlink(parent, node.name, node.target, node.uid, node.gid)
        else:
            attr = fs.create(parent, node.name, node.perm, node.uid, node.gid,
                             open_handle=False)
            offset = 0
            for chunk in source.data(node.legacy, node.size):
                fs.write(attr.ino, offset, chunk)
                offset += len(chunk)
        new[node.legacy] = attr.ino
    for legacy, directory, name in plan.links:
        step(name)
        fs.link(new[legacy], new[directory], name)
    # times last: creating, writing and linking changed them
    for node in plan.nodes:
        changes = [("uid", node.uid), ("gid", node.gid), ("atime", node.atime_ns),
                   ("mtime", node.mtime_ns)]
        if node.kind != "symlink":
            changes.insert(0, ("perm", node.perm))
        fs.set_attributes(new[node.legacy], changes)
    if progress is not None:
        progress(total, total, "")
