"""The UI side of format 2: states in the Filesystems view, "Upgrade to format 2…" (key,
palette, the browser's offer; refused while mounted) and "Collect garbage…"."""

from __future__ import annotations

import errno
import os
import time

import pytest
import redis
from helpers_invariants import pool_keys
from helpers_ui import make_app, notifications, run, settle, text_of, wait_for
from test_cow import _v1_tree
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from redisfs_tui.core import ROOT_INO, FileSystem, FsError, registry
from redisfs_tui.core import snapshot as snap
from redisfs_tui.core import upgrade as upgrade_mod
from redisfs_tui.core.keys import Keys, block_key, parse_block_key
from redisfs_tui.ui import fmt
from redisfs_tui.ui.commands import RedisFsCommands
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.preview import PreviewPane


def state(app, prefix: str) -> str:
    table = app.view("filesystems").query_one(DataTable)
    return table.get_cell(prefix, "format").plain


def version(client: redis.Redis, prefix: str) -> bytes:
    return client.hget(Keys(prefix).superblock, "format_version")


def check_files(client: redis.Redis, prefix: str, files: dict[str, bytes]) -> None:
    fs = FileSystem(client, prefix)
    for name, data in files.items():
        assert fs.read(fs.lookup(ROOT_INO, name).ino, 0, len(data) + 10) == data


async def palette(pilot: Pilot, title: str) -> None:
    hits = [hit async for hit in RedisFsCommands(pilot.app.screen).search(title)]
    assert hits and hits[0].text == title
    hits[0].command()
    await settle(pilot, 1)


def test_format_1_is_shown_and_upgraded_with_its_key(redis_server, client: redis.Redis,
                                                      prefix: str) -> None:
    files = _v1_tree(client, prefix)
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        view = app.view("filesystems")
        view.query_one(DataTable).move_cursor(
            row=view.query_one(DataTable).get_row_index(prefix))
        await settle(pilot, 1)
        assert state(app, prefix) == "1 — upgrade needed"
        assert "format v1 — upgrade needed: press U" in text_of(view.query_one("#fs-detail",
                                                                             Static))
        await pilot.press("U")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirm")
        assert "format 1" in str(app.screen.query_one(".dialog-body", Static).content)
        await pilot.press("n")  # cancelled: nothing happens
        await settle(pilot)
        assert version(client, prefix) == b"1"
        await pilot.press("U")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Upgraded" in n for n in notifications(app)),
                       what="upgraded")
        await settle(pilot)
        assert any(f"Upgraded {prefix} to format 2: 5 blocks" in n for n in notifications(app))
        assert state(app, prefix) == "2"
        assert version(client, prefix) == b"2"
        check_files(client, prefix, files)

    run(app, scenario)


def test_opening_format_1_in_the_browser_offers_the_upgrade(redis_server, client: redis.Redis,
                                                             prefix: str) -> None:
    files = _v1_tree(client, prefix)
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        app.open_browser(prefix)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the offer")
        offer = str(app.screen.query_one(".dialog-body", Static).content)
        assert f"Upgrade {prefix} to format 2 now?" in offer and "press U" in offer
        header = app.browser.query_one(PreviewPane).query_one("#preview-header", Static)
        assert "format 1: to open it, upgrade it (press U on the Filesystems tab" in \
            text_of(header)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.browser.fs is not None
                       and app.browser.fs.prefix == prefix, what="opened in the browser")
        assert app.active_tab == "browser"
        check_files(client, prefix, files)

    run(app, scenario)


def test_upgrade_is_refused_while_mounted(redis_server, client: redis.Redis,
                                          prefix: str) -> None:
    _v1_tree(client, prefix)
    client.hset(Keys(prefix).mount("live"), mapping={
        "host": "elsewhere", "pid": 1, "mountpoint": "/mnt/x", "heartbeat": repr(time.time())})
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        table = app.view("filesystems").query_one(DataTable)
        table.move_cursor(row=table.get_row_index(prefix))
        await palette(pilot, "Upgrade to format 2…")
        await wait_for(pilot, lambda: any("is mounted" in n for n in notifications(app)),
                       what="refusal")
        assert "elsewhere:/mnt/x" in next(n for n in notifications(app) if "mounted" in n)
        assert not isinstance(app.screen, ConfirmModal)
        assert version(client, prefix) == b"1"

    run(app, scenario)


def test_snapshot_states_are_shown(redis_server, client: redis.Redis, fs: FileSystem) -> None:
    fs.write(fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino, 0, b"data")
    src, dst = Keys(fs.prefix), Keys(fs.prefix + ".s")
    fs._s.snap_begin(keys=[src.superblock, dst.superblock],  # a copy begun, not finished
                     args=[src.base, dst.base, time.time_ns(), "u", "snapshot", fs.prefix])
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        assert state(app, fs.prefix) == f"2 — snapshot to {fs.prefix}.s in progress"
        assert state(app, fs.prefix + ".s") == "2 — incomplete snapshot copy"

    run(app, scenario)


def _age_blocks(client: redis.Redis, pool: str, keys: set[bytes]) -> None:
    """Make blocks an hour old: their id starts with the time it was made (fixture data)."""
    old = f"{int(time.time()) - 3600:08x}"
    for key in keys:
        _, block_id = parse_block_key(key)
        client.rename(key, block_key(pool, old + block_id[8:]))


def test_gc_deletes_what_a_deleted_snapshot_left(redis_server, client: redis.Redis,
                                                 fs: FileSystem) -> None:
    made = {}
    for i in range(4):
        made[f"f{i}"] = os.urandom(fs.block_size)
        fs.write(fs.create(ROOT_INO, f"f{i}", 0o644, open_handle=False).ino, 0, made[f"f{i}"])
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    for name in ("f0", "f1", "f2"):  # shared now: left to the snapshot
        fs.unlink(ROOT_INO, name)
    registry.delete_filesystem(client, fs.prefix + ".s")
    kept = {block_key(fs.pool, e.decode().split(".")[1]).encode()
            for e in client.hvals(fs.keys.block_map(fs.lookup(ROOT_INO, "f3").ino))}
    orphans = pool_keys(client, fs.pool) - kept
    assert len(orphans) == 3
    aged = set(list(orphans)[:2])  # one stays young
    freed = sum(client.strlen(key) for key in aged)
    _age_blocks(client, fs.pool, aged)
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        table = app.view("filesystems").query_one(DataTable)
        table.move_cursor(row=table.get_row_index(fs.prefix))
        await palette(pilot, "Collect garbage…")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Deleted" in n for n in notifications(app)),
                       what="the GC's report")
        said = next(n for n in notifications(app) if "Deleted" in n)
        assert f"Deleted 2 unreferenced block(s) ({fmt.size(freed)})" in said, said
        assert "1 younger than 10 min kept" in said, said
        assert len(pool_keys(client, fs.pool)) == 2  # f3's and the young one
        assert fs.read(fs.lookup(ROOT_INO, "f3").ino, 0, fs.block_size + 1) == made["f3"]

    run(app, scenario)


def test_upgrade_reports_progress_and_stops_between_batches(client: redis.Redis,
                                                             prefix: str) -> None:
    """The hooks the UI's job uses: progress per batch; cancel leaves format 1, and the
    next run finishes what is left."""
    files = _v1_tree(client, prefix)
    keys = Keys(prefix)
    extra = os.urandom(4096)
    pipe = client.pipeline(transaction=False)
    for index in range(upgrade_mod.BATCH):  # a second batch: a file of BATCH more blocks
        pipe.set(keys.block(4, index), b"R" + extra)
    pipe.hset(keys.inode(4), mapping={"mode": 0o100644, "uid": 0, "gid": 0, "nlink": 1,
                                      "size": 4096 * upgrade_mod.BATCH, "atime": 0, "mtime": 0,
                                      "ctime": 0, "parent": 1, "blocks": upgrade_mod.BATCH})
    pipe.hset(keys.dirents(1), "big", 4)
    pipe.hset(keys.superblock, mapping={"next_ino": 4, "inodes": 4})
    pipe.execute()
    seen: list[tuple[int, int]] = []
    with pytest.raises(FsError) as info:
        upgrade_mod.upgrade(client, prefix, progress=lambda d, t: seen.append((d, t)),
                            cancelled=lambda: bool(seen))
    assert info.value.errno == errno.ECANCELED
    total = upgrade_mod.BATCH + 5
    assert seen == [(upgrade_mod.BATCH, total)]
    assert version(client, prefix) == b"1"
    done = upgrade_mod.upgrade(client, prefix, progress=lambda d, t: seen.append((d, t)))
    assert done.blocks == 5 and seen[-1] == (5, 5)
    check_files(client, prefix, {**files, "big": extra * upgrade_mod.BATCH})
