"""Pilot tests of the browser's file-manager basics against a real redis-server:
multi-select with bulk delete and copy out, copy and move inside the filesystem."""

from __future__ import annotations

from pathlib import Path

import redis
from helpers_ui import make_app, notifications, run, settle, text_of, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, Static

from redisfs_tui.core import ROOT_INO, FileSystem, FsError
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal


def put(fs: FileSystem, parent: int, name: str, data: bytes) -> int:
    ino = fs.create(parent, name, 0o644).ino
    fs.write(ino, 0, data)
    fs.release(ino)
    return ino


def names(app) -> list[str]:
    return [e.name for e in app.browser.entry_list.shown]


def status(app) -> str:
    return text_of(app.query_one("#browser-status", Static))


def exists(fs: FileSystem, path: str) -> bool:
    try:
        fs.resolve(path)
    except FsError:
        return False
    return True


async def fill_form(pilot: Pilot, value: str) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form")
    app.screen.query_one(Input).value = value
    await pilot.press("enter")


def test_multi_select_bulk_delete_and_copy_out(redis_server, client: redis.Redis,
                                               fs: FileSystem, tmp_path: Path):
    d = fs.mkdir(ROOT_INO, "d", 0o755).ino
    put(fs, d, "inner.txt", b"inner")
    for name in ("a.txt", "b.txt", "c.txt"):
        put(fs, ROOT_INO, name, name.encode())
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: names(app) == ["d", "a.txt", "b.txt", "c.txt"])
        ids = {b.binding.id for b in app.active_bindings.values() if b.binding.show}
        assert {"list.select", "list.select-all"} <= ids  # shown in the footer
        await pilot.press("space")  # marks d, moves to a.txt
        assert app.browser.entry_list.current.name == "a.txt"
        await pilot.press("j", "space")  # b.txt
        assert "2 selected" in status(app)
        await pilot.press("escape")  # clears the selection
        assert "selected" not in status(app)
        await pilot.press("home", "space", "j", "space")  # d and b.txt again
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        body = text_of(app.screen.query_one(".dialog-body", Static))
        assert "Delete 2 selected entries" in body and "d/, b.txt" in body
        assert "1 of them directories" in body
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Deleted 2 of 2 entries" in n
                                          for n in notifications(app)), what="bulk delete")
        await wait_for(pilot, lambda: names(app) == ["a.txt", "c.txt"], what="reload")
        assert not exists(fs, "/d") and not exists(fs, "/b.txt")
        assert "selected" not in status(app)

        await pilot.press("v")  # everything shown
        assert "2 selected" in status(app)
        await pilot.press("o")
        await fill_form(pilot, str(tmp_path))
        await wait_for(pilot, lambda: any(n.startswith("Copied to") for n in notifications(app)),
                       what="bulk copy out")
        done = next(n for n in notifications(app) if n.startswith("Copied to"))
        assert "2 entries" in done and "2 files" in done
        assert (tmp_path / "a.txt").read_bytes() == b"a.txt"
        assert (tmp_path / "c.txt").read_bytes() == b"c.txt"
        await pilot.press("v")  # all were selected: v clears
        assert "selected" not in status(app)
        await settle(pilot)

    run(app, scenario)
