"""Enter on a row of the diff table: a changed file shows a unified text diff of its two
versions; any other row opens the browser at the entry."""

from __future__ import annotations

import redis
from helpers_ui import make_app, put, run, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.core.snapshot import snapshot
from redisfs_tui.ui.diff_screen import DiffScreen
from redisfs_tui.ui.file_diff import FileDiffScreen


def test_enter_on_diff_rows(redis_server, client: redis.Redis, fs: FileSystem):
    text = put(fs, ROOT_INO, "a.txt", b"line 1\nline 2\nline 3\n")
    blob = put(fs, ROOT_INO, "b.bin", bytes(range(256)))
    put(fs, ROOT_INO, "c.txt", b"removed later")
    snap = f"{fs.prefix}.s"
    snapshot(client, fs.prefix, snap)
    fs.write(text, 7, b"LINE")
    fs.write(blob, 100, b"\xff\xff")
    put(fs, ROOT_INO, "new.txt", b"added")
    fs.unlink(ROOT_INO, "c.txt")
    app = make_app(redis_server.url, client, tab="filesystems")

    async def open_diff(pilot: Pilot) -> DiffScreen:
        app.push_screen(DiffScreen(snap, fs.prefix))
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.done or screen.failed, what="diff")
        assert not screen.failed
        await settle(pilot, 1)
        return screen

    async def enter_on(pilot: Pilot, screen: DiffScreen, path: str) -> None:
        table = screen.query_one("#diff-table", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index(path))
        await pilot.pause()
        await pilot.press("enter")

    async def scenario(pilot: Pilot) -> None:
        screen = await open_diff(pilot)
        await enter_on(pilot, screen, "/a.txt")
        await wait_for(pilot, lambda: isinstance(app.screen, FileDiffScreen)
                       and app.screen.lines, what="text diff")
        lines = app.screen.lines
        assert f"--- {snap}:/a.txt" in lines and f"+++ {fs.prefix}:/a.txt" in lines
        assert "-line 2" in lines and "+LINE 2" in lines and " line 1" in lines
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back to the diff")

        await enter_on(pilot, screen, "/b.bin")
        await wait_for(pilot, lambda: isinstance(app.screen, FileDiffScreen)
                       and app.screen.lines, what="binary diff")
        assert any("Binary files differ" in line and "byte 100" in line
                   for line in app.screen.lines)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.screen is screen)

        # an added entry: the browser opens at it, in the newer filesystem
        await enter_on(pilot, screen, "/new.txt")
        await wait_for(pilot, lambda: not isinstance(app.screen, DiffScreen))
        browser = app.browser
        await wait_for(pilot, lambda: browser.fs is not None and browser.fs.prefix == fs.prefix
                       and browser.entry_list.current is not None
                       and browser.entry_list.current.name == "new.txt", what="browser")
        assert app.query_one("#tabs").active == "browser"

        # a removed one: in the older filesystem, where it still is
        screen = await open_diff(pilot)
        await enter_on(pilot, screen, "/c.txt")
        await wait_for(pilot, lambda: browser.fs is not None and browser.fs.prefix == snap
                       and browser.entry_list.current is not None
                       and browser.entry_list.current.name == "c.txt", what="older fs")
        await settle(pilot)

    run(app, scenario)
