"""Range selection in the browser, as file managers do it: `v` anchors a range at the
cursor row and moving extends it, shift+up/down select as they move, `*` / ctrl+a select
all (again: none), escape clears; bulk actions work on the selection."""

from __future__ import annotations

from pathlib import Path

import redis
from helpers_ui import make_app, notifications, run, settle, text_of, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, Static

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal

NAMES = ["a", "b", "c", "d", "e", "f"]


def marked(app) -> list[str]:
    return [e.name for e in app.browser.entry_list.marked_entries]


def status(app) -> str:
    return text_of(app.query_one("#browser-status", Static))


def test_range_selection_select_all_and_bulk_actions(redis_server, client: redis.Redis,
                                                     fs: FileSystem, tmp_path: Path):
    for name in NAMES:
        ino = fs.create(ROOT_INO, name, 0o644).ino
        fs.write(ino, 0, name.encode())
        fs.release(ino)
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        lst = app.browser.entry_list
        await wait_for(pilot, lambda: [e.name for e in lst.shown] == NAMES)
        lst.focus()
        await pilot.press("j", "v")  # range anchored at b
        assert marked(app) == ["b"]
        await pilot.press("j", "j")  # extends to d
        assert marked(app) == ["b", "c", "d"]
        await wait_for(pilot, lambda: "RANGE" in status(app), what="range shown")
        await pilot.press("k")  # shrinks again
        assert marked(app) == ["b", "c"]
        await pilot.press("v")  # ends the range; the selection stays while moving
        await pilot.press("G")
        assert marked(app) == ["b", "c"] and "RANGE" not in status(app)
        await pilot.press("v", "k")  # a second range adds to the first: e..f
        assert marked(app) == ["b", "c", "e", "f"]
        await pilot.press("v", "g")  # ends it; g is the top
        assert lst.cursor == 0 and marked(app) == ["b", "c", "e", "f"]
        await pilot.press("escape")  # clears
        await wait_for(pilot, lambda: "selected" not in status(app), what="cleared")
        assert marked(app) == []
        await pilot.press("v", "j", "space")  # space ends a range and toggles: a, b -> a
        assert marked(app) == ["a"] and lst.visual_anchor is None and lst.current.name == "c"
        await pilot.press("j")
        assert marked(app) == ["a"]
        await pilot.press("escape", "g")
        await pilot.press("v", "j", "escape")  # escape also ends a range
        assert marked(app) == [] and lst.visual_anchor is None
        await pilot.press("j")
        assert marked(app) == []

        await pilot.press("shift+down", "shift+down")  # from c: c, d, e
        assert marked(app) == ["c", "d", "e"]
        await pilot.press("shift+up")  # d again: still selected
        assert marked(app) == ["c", "d", "e"] and lst.current.name == "d"
        await pilot.press("escape", "asterisk")  # all
        assert marked(app) == NAMES
        await pilot.press("asterisk")  # again: none
        assert marked(app) == []
        await pilot.press("ctrl+a")
        assert marked(app) == NAMES
        await pilot.press("escape")

        # bulk copy out and delete work on a range
        await pilot.press("g", "j", "j", "v", "j", "j")  # c, d, e
        assert marked(app) == ["c", "d", "e"]
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form")
        app.screen.query_one(Input).value = str(tmp_path)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n.startswith("Copied to") for n in
                                          notifications(app)), what="copy out")
        await wait_for(pilot, lambda: not app.job_bar.busy)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "d", "e"]
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: [e.name for e in lst.shown] == ["a", "b", "f"],
                       what="bulk delete")
        await wait_for(pilot, lambda: lst.visual_anchor is None and not marked(app),
                       what="range over")
        assert "RANGE" not in status(app)
        await settle(pilot)

    run(app, scenario)
