"""Launching and unmounting real FUSE mounts from the Mounts view (runs the redisfs daemon)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

import pytest
from helpers_ui import make_app, notifications, run, settle, text_of, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.mount.spawn import is_mounted, unmount
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal
from redisfs_tui.ui.log_screen import LogScreen
from redisfs_tui.ui.mounts_view import MountsView


def rows(app) -> list[tuple[str, str, str]]:
    table = app.query_one("#mount-table", DataTable)
    return [(str(r[0]), str(r[2]), str(r[3])) for r in
            (table.get_row_at(i) for i in range(table.row_count))]


def test_launch_read_write_and_read_only_mounts_then_unmount(
        redis_server, client, fs: FileSystem, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # mount logs go here
    ino = fs.create(ROOT_INO, "hello.txt", 0o644).ino
    fs.write(ino, 0, b"hi from redis\n")
    fs.release(ino)
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    app = make_app(redis_server.url, client, prefix=fs.prefix, tab="mounts")

    async def mount(pilot: Pilot, where: Path, read_only: bool) -> None:
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="mount form")
        form = app.screen
        form.query_one("#field-prefix").value = fs.prefix
        form.query_one("#field-mountpoint").value = str(where)
        form.query_one("#field-read_only").value = read_only
        await settle(pilot, 1)
        await pilot.click("#submit")
        await wait_for(pilot, lambda: is_mounted(where), timeout=20, what=f"mount {where}")

    async def unmount_row(pilot: Pilot, where: Path) -> None:
        table = app.query_one("#mount-table", DataTable)
        table.move_cursor(row=[m for _, m, _ in rows(app)].index(str(where)))
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: not is_mounted(where), timeout=15, what="unmount")
        await wait_for(pilot, lambda: str(where) not in [m for _, m, _ in rows(app)])

    launched = []

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        launched.append(app.query_one(MountsView).launched)
        await mount(pilot, rw, read_only=False)
        assert (rw / "hello.txt").read_text() == "hi from redis\n"
        await wait_for(pilot, lambda: ("live", str(rw), "rw") in rows(app), what="live row")
        (rw / "written.txt").write_text("through FUSE")
        assert fs.read(fs.resolve("/written.txt").ino, 0, 100) == b"through FUSE"

        await mount(pilot, ro, read_only=True)  # read-only: no registry record, shown anyway
        await wait_for(pilot, lambda: ("running", str(ro), "ro") in rows(app))
        with pytest.raises(OSError) as exc:
            (ro / "nope.txt").write_text("x")
        assert exc.value.errno == errno.EROFS

        table = app.query_one("#mount-table", DataTable)
        table.move_cursor(row=[m for _, m, _ in rows(app)].index(str(rw)))
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        await wait_for(pilot, lambda: "redisfs-ui runs:" in app.screen.last)
        assert "--foreground" in app.screen.last
        await pilot.press("escape")

        await unmount_row(pilot, rw)
        await unmount_row(pilot, ro)
        assert not app.query_one(MountsView).launched
        assert any("Unmounted" in n for n in notifications(app))

        await pilot.press("m")  # a mountpoint that does not exist: a message, no crash
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal))
        app.screen.query_one("#field-mountpoint").value = str(tmp_path / "missing")
        await settle(pilot, 1)
        await pilot.click("#submit")
        # the form stays open with the input and says what is wrong
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal) and "does not exist"
                       in text_of(app.screen.query_one("#form-error", Static)))
        await pilot.press("escape")

    try:
        run(app, scenario)
    finally:
        for where in (rw, ro):
            if is_mounted(where):
                unmount(where)
        for mount in [m for group in launched for m in group]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                mount.process.wait(10)
    assert not is_mounted(rw) and not is_mounted(ro)
    assert os.listdir(rw) == []


def test_launch_refuses_a_directory_with_files_unless_nonempty(redis_server, fs: FileSystem,
                                                               tmp_path: Path, monkeypatch):
    """The UI's launch path runs the daemon's mountpoint check before starting anything."""
    from redisfs_tui.ui.mount_control import MountError, launch_mount

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    where = tmp_path / "busy"
    where.mkdir()
    (where / "local-file").write_text("would be hidden")
    try:
        with pytest.raises(MountError, match="is not empty"):
            launch_mount(redis_server.url, fs.prefix, str(where))
        assert not is_mounted(where) and not list((tmp_path / "xdg").rglob("mount-*.log"))
        mount = launch_mount(redis_server.url, fs.prefix, str(where), allow_nonempty=True)
        assert os.listdir(where) == []
        with pytest.raises(MountError, match="already a mount point"):
            launch_mount(redis_server.url, fs.prefix, str(where), allow_nonempty=True)
        unmount(str(where))
        mount.process.wait(timeout=15)
        assert os.listdir(where) == ["local-file"]
    finally:
        while is_mounted(where):  # the daemons end once unmounted
            subprocess.run(["fusermount3", "-uz", str(where)], check=False)


def test_mount_form_nonempty_switch(redis_server, client, fs: FileSystem, tmp_path: Path,
                                    monkeypatch):
    """A directory with files is refused (the form comes back, naming it) until the
    form's nonempty switch is ticked; then the daemon gets ``-o nonempty``."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    fs.mkdir(ROOT_INO, "from-redis", 0o755)
    where = tmp_path / "busy"
    where.mkdir()
    (where / "local-file").write_text("hidden while mounted")
    app = make_app(redis_server.url, client, prefix=fs.prefix, tab="mounts")
    launched = []

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        launched.append(app.query_one(MountsView).launched)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="mount form")
        app.screen.query_one("#field-mountpoint").value = str(where)
        await settle(pilot, 1)
        await pilot.click("#submit")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal) and "not empty" in
                       text_of(app.screen.query_one("#form-error", Static)), what="refusal")
        form = app.screen
        assert str(where) in text_of(form.query_one("#form-error", Static))
        assert form.query_one("#field-mountpoint").value == str(where)  # the input kept
        assert not is_mounted(where)
        form.query_one("#field-nonempty").value = True
        await settle(pilot, 1)
        await pilot.click("#submit")
        await wait_for(pilot, lambda: is_mounted(where), timeout=20, what="mounted")
        assert os.listdir(where) == ["from-redis"]

    try:
        run(app, scenario)
    finally:
        if is_mounted(where):
            unmount(where)
        for mount in [m for group in launched for m in group]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                mount.process.wait(10)
    assert not is_mounted(where)
    assert os.listdir(where) == ["local-file"]
