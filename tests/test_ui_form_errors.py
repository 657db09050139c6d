"""Errors of the snapshot / restore and copy-out / copy-in forms keep the form open with
the user's input and an error that names the path or prefix (as mkfs and connect do)."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from helpers_ui import fill_form, make_app, put, run, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.core.snapshot import snapshot
from redisfs_tui.ui.filesystems_view import FilesystemsView
from redisfs_tui.ui.form import FormModal


def form_error(app) -> str:
    return str(app.screen.query_one("#form-error", Label).content)


async def form_back_with(pilot: Pilot, value: str, *words: str) -> None:
    """The form is (again) on screen with ``value`` typed and an error holding ``words``."""
    app = pilot.app

    def shown() -> bool:
        return (isinstance(app.screen, FormModal)
                and app.screen.query_one(Input).value == value
                and all(w in form_error(app) for w in words))

    await wait_for(pilot, shown, what=f"form with {value!r} and error {words}")


def select_fs(app, name: str) -> None:
    table = app.query_one("#fs-table", DataTable)
    table.move_cursor(row=table.get_row_index(name))


def test_snapshot_and_restore_errors_keep_the_form(redis_server, client: redis.Redis,
                                                  fs: FileSystem, prefix: str):
    other = FileSystem.mkfs(client, f"{prefix}.other")
    snap = f"{prefix}.s1"
    snapshot(client, prefix, snap)
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        select_fs(app, prefix)
        await pilot.press("s")
        await fill_form(pilot, other.prefix)  # exists: refused by the core
        await form_back_with(pilot, other.prefix, other.prefix, "exists")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.job_bar.busy)
        # restore: the snapshot into itself would empty it; said at once, form open
        select_fs(app, snap)
        await pilot.press("r")
        await fill_form(pilot, snap)
        await form_back_with(pilot, snap, snap, "snapshot itself")
        # the snapshot went away meanwhile: the failure brings the form back
        client.delete(f"{{{snap}}}:sb")
        app.screen.query_one(Input).value = prefix
        await pilot.press("enter")
        await pilot.press("y")  # the confirmation
        await form_back_with(pilot, prefix, prefix, snap)
        await pilot.press("escape")
        await settle(pilot)

        # the target is mounted on another host: the form comes back saying where
        snapshot(client, prefix, snap)
        app.query_one(FilesystemsView).refresh_view()
        await settle(pilot)
        client.hset(fs.keys.mount("elsewhere-session"),
                    mapping={"host": "elsewhere", "pid": 42, "mountpoint": "/mnt/other",
                             "ro": 0, "started": time.time(), "heartbeat": time.time(),
                             "log": ""})
        select_fs(app, snap)
        await pilot.press("r")
        await fill_form(pilot, prefix)
        await form_back_with(pilot, prefix, prefix, "elsewhere", "/mnt/other")
        await pilot.press("escape")
        await settle(pilot)

    run(app, scenario)


def test_copy_out_and_copy_in_errors_keep_the_form(redis_server, client: redis.Redis,
                                                  fs: FileSystem, tmp_path: Path):
    ino = put(fs, ROOT_INO, "a.txt", b"a" * 1000)
    put(fs, ROOT_INO, "taken", b"x")
    (tmp_path / "taken").write_bytes(b"local")
    (tmp_path / "file").write_bytes(b"f")
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: len(app.browser.entry_list.shown) == 2)
        app.browser.entry_list.select_name("a.txt")
        missing = str(tmp_path / "no" / "where")
        await pilot.press("o")
        await fill_form(pilot, missing)
        await form_back_with(pilot, missing, missing, "No such file")
        await fill_form(pilot, str(tmp_path / "file"))
        await form_back_with(pilot, str(tmp_path / "file"), "file: not a directory")
        # a failure in the job (the file vanished from Redis) brings the form back
        fs.unlink(ROOT_INO, "a.txt", expect=ino)
        await fill_form(pilot, str(tmp_path))
        await form_back_with(pilot, str(tmp_path), str(tmp_path))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.job_bar.busy)

        nowhere = str(tmp_path / "nothing-here")
        await pilot.press("a")
        await fill_form(pilot, nowhere)
        await form_back_with(pilot, nowhere, nowhere, "No such file")
        # the name exists in the directory: the core refuses, the form comes back
        taken = str(tmp_path / "taken")
        await fill_form(pilot, taken)
        await form_back_with(pilot, taken, taken, "exists")
        await pilot.press("escape")
        await settle(pilot)
        assert bytes(fs.read(fs.resolve("/taken").ino, 0, 10)) == b"x"

    run(app, scenario)
