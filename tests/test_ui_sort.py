"""Pilot tests: names sort naturally (file2 before file10) in the browser listing, the
filesystems table and the diff."""

from __future__ import annotations

import redis
from helpers_ui import make_app, run, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.core.snapshot import snapshot
from redisfs_tui.ui.diff_screen import DiffScreen
from redisfs_tui.ui.fmt import natural_key

NAMES = ["file10", "file2", "File3", "file1", "file01"]


def column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


def test_natural_key():
    assert sorted(NAMES, key=natural_key) == ["file01", "file1", "file2", "File3", "file10"]
    assert sorted(["a10b", "a9c", "a9b", "b"], key=natural_key) == ["a9b", "a9c", "a10b", "b"]


def test_browser_lists_names_in_natural_order(redis_server, client, fs: FileSystem):
    for name in NAMES:
        fs.release(fs.create(ROOT_INO, name, 0o644).ino)
    for name in ("d10", "d9"):
        fs.mkdir(ROOT_INO, name)
    app = make_app(redis_server.url, client, prefix=fs.prefix, tab="browser")

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: len(app.browser.entry_list.shown) == 7, what="listing")
        shown = [e.name for e in app.browser.entry_list.shown]
        assert shown == ["d9", "d10", "file01", "file1", "file2", "File3", "file10"]

    run(app, scenario)


def test_filesystems_and_diff_in_natural_order(redis_server, client: redis.Redis, prefix):
    for n in (10, 2, 1):
        FileSystem.mkfs(client, f"{prefix}x{n}", uid=0, gid=0)
    fs = FileSystem(client, f"{prefix}x1")
    snap = f"{prefix}x1s"
    snapshot(client, fs.prefix, snap)
    for name in NAMES:
        fs.release(fs.create(ROOT_INO, name, 0o644).ino)
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        table = app.query_one("#fs-table", DataTable)
        await wait_for(pilot, lambda: table.row_count >= 4, what="filesystems")
        ours = [p for p in column(table, 0) if p.startswith(f"{prefix}x")]
        assert ours == [f"{prefix}x1", f"{prefix}x1s", f"{prefix}x2", f"{prefix}x10"]

        app.push_screen(DiffScreen(snap, fs.prefix))
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.done or screen.failed, what="diff")
        await settle(pilot, 1)
        paths = column(screen.query_one("#diff-table", DataTable), 2)
        assert paths == ["/file01", "/file1", "/file2", "/File3", "/file10"]

    run(app, scenario)
