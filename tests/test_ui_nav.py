"""Pilot tests: the same navigation keys (j/k, g/G, Home/End) in every table and tree,
Enter acts on the row, Esc closes; buttons say their key."""

from __future__ import annotations

import redis
from helpers_ui import make_app, run, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Tree

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.core.snapshot import snapshot
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.diff_screen import DiffScreen
from redisfs_tui.ui.form import Field, FormModal

NAV_KEYS = {"j", "k", "g", "G", "home", "end"}


def keys_of(widget) -> set[str]:
    return set(widget._bindings.key_to_bindings)


async def walk(pilot: Pilot, position, last: int) -> None:
    """Press the navigation keys on the focused widget; ``position()`` is its cursor."""
    assert last >= 2
    await pilot.press("G")
    assert position() == last
    await pilot.press("g")
    assert position() == 0
    await pilot.press("j", "j")
    assert position() == 2
    await pilot.press("k")
    assert position() == 1
    await pilot.press("end")
    assert position() == last
    await pilot.press("home")
    assert position() == 0


def test_every_table_tree_and_pane_has_the_same_keys(redis_server, client, fs):
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        for tab in ("server", "filesystems", "browser", "mounts", "fsck"):
            await pilot.press({"server": "1", "filesystems": "2", "browser": "3",
                               "mounts": "4", "fsck": "5"}[tab])
            await settle(pilot, 1)
        widgets = [*app.query(DataTable), *app.query(Tree), app.query_one("#server-scroll"),
                   app.query_one("#preview"), app.query_one("#inspector"),
                   app.query_one("#entries")]
        for widget in widgets:
            missing = NAV_KEYS - keys_of(widget)
            assert not missing, f"{widget!r} lacks {sorted(missing)}"

    run(app, scenario)


def test_browser_listing_and_find_results_navigation_and_go_to_path(
        redis_server, client: redis.Redis, fs: FileSystem):
    """g/G/Home/End mean top/bottom in the listing too; go to path is ctrl+g or ':'."""
    from redisfs_tui.ui.find_screen import FindScreen

    for n in range(5):
        fs.release(fs.create(ROOT_INO, f"file{n}", 0o644).ino)
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        lst = app.browser.entry_list
        await wait_for(pilot, lambda: len(lst.shown) == 5, what="listing")
        lst.focus()
        await walk(pilot, lambda: lst.cursor, 4)
        assert not isinstance(app.screen, FormModal)  # g moved, it opened nothing
        for key in ("ctrl+g", "colon"):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what=key)
            assert app.screen.title_text == "Go to"
            await pilot.press("escape")
            await settle(pilot, 1)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FindScreen))
        await pilot.press(*"file", "enter")
        await wait_for(pilot, lambda: len(app.screen.found) == 5, what="results")
        await settle(pilot, 1)
        results = app.screen.query_one("#find-results")
        results.focus()
        results.highlighted = 0
        await walk(pilot, lambda: results.highlighted, 4)
        await pilot.press("escape")

    run(app, scenario)


def test_filesystems_table_navigation_and_enter(redis_server, client: redis.Redis, prefix):
    for n in range(4):
        FileSystem.mkfs(client, f"{prefix}n{n}", uid=0, gid=0)
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        table = app.query_one("#fs-table", DataTable)
        await wait_for(pilot, lambda: table.row_count >= 4, what="filesystems")
        table.focus()
        await walk(pilot, lambda: table.cursor_row, table.row_count - 1)
        await pilot.press("j", "enter")  # Enter opens the filesystem in the browser
        await settle(pilot, 1)
        assert app.query_one("#tabs").active == "browser"

    run(app, scenario)


def test_diff_table_and_fsck_tree_navigation(redis_server, client, fs: FileSystem):
    for name in ("a.txt", "b.txt", "c.txt"):
        fs.release(fs.create(ROOT_INO, name, 0o644).ino)
    snap = f"{fs.prefix}.s"
    snapshot(client, fs.prefix, snap)
    for name in ("a.txt", "b.txt", "c.txt"):
        fs.unlink(ROOT_INO, name)
    app = make_app(redis_server.url, client, prefix=fs.prefix, tab="fsck")

    async def scenario(pilot: Pilot) -> None:
        tree = app.query_one("#fsck-tree", Tree)
        for n in range(4):
            tree.root.add_leaf(f"leaf {n}")
        tree.root.expand()
        tree.focus()
        await settle(pilot, 1)
        await walk(pilot, lambda: tree.cursor_line, 4)

        app.push_screen(DiffScreen(snap, fs.prefix))
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.done or screen.failed, what="diff")
        await settle(pilot, 1)
        table = screen.query_one("#diff-table", DataTable)
        table.focus()
        await walk(pilot, lambda: table.cursor_row, 2)
        await pilot.press("escape")
        await settle(pilot, 1)
        assert not isinstance(app.screen, DiffScreen)

    run(app, scenario)


def test_buttons_say_their_key(redis_server, client, fs):
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    def labels() -> list[str]:
        return [str(b.label) for b in app.screen.query(Button)]

    async def scenario(pilot: Pilot) -> None:
        app.push_screen(ConfirmModal("Delete", "Delete x?"))
        await settle(pilot, 1)
        assert labels() == ["Cancel [Esc]", "Delete [y]"]
        await pilot.press("escape")
        app.push_screen(FormModal("Name", [Field("name", "Name")], "Create"))
        await settle(pilot, 1)
        assert labels() == ["Cancel [Esc]", "Create [Enter]"]
        await pilot.press("escape")
        await settle(pilot, 1)
        assert "Cancel [Esc]" in [str(b.label) for b in app.query("#job-cancel").results(
            Button)]

    run(app, scenario)
