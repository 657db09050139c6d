"""Delete filesystem and restore refuse while the filesystem is mounted, and offer to
unmount (real redis-server; the mounts are registry records, as a daemon writes them,
so no FUSE is needed)."""

from __future__ import annotations

import time

import redis
from helpers_ui import make_app, notifications, run, settle, text_of, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from redisfs_tui.core import ROOT_INO, FileSystem, Keys
from redisfs_tui.core.registry import register_mount
from redisfs_tui.core.snapshot import snapshot
from redisfs_tui.ui import filesystems_view, mount_guard
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal
from redisfs_tui.ui.mount_control import local_mounts, mount_source
from redisfs_tui.ui.typed_confirm import TypedConfirmModal


def select(app, prefix: str) -> None:
    table = app.query_one("#fs-table", DataTable)
    table.move_cursor(row=table.get_row_index(prefix))


def elsewhere(client: redis.Redis, fs: FileSystem, session: str) -> str:
    key = fs.keys.mount(session)
    client.hset(key, mapping={"host": "build-07", "pid": 77, "mountpoint": "/srv/data",
                              "ro": 0, "started": time.time(), "heartbeat": time.time()})
    return key


def test_delete_refused_while_mounted_then_unmount_offered(redis_server, client, fs,
                                                           monkeypatch):
    registration = register_mount(fs, "/mnt/here-test")  # a live mount on this host
    unmounted: list[str] = []

    def fake_unmount(mountpoint: str, host: str | None = None) -> None:
        unmounted.append(mountpoint)  # the daemon exits and takes its record with it
        registration.stop()

    monkeypatch.setattr(filesystems_view, "unmount", fake_unmount)
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        select(app, fs.prefix)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="refusal")
        body = text_of(app.screen.query_one(".dialog-body", Static))
        assert "/mnt/here-test" in body and "Deleting it is refused" in body
        assert "Unmount the 1 mount(s) on this host now?" in body
        await pilot.press("n")  # no: nothing happens
        await settle(pilot)
        assert not isinstance(app.screen, TypedConfirmModal)
        assert client.exists(fs.keys.superblock) and unmounted == []

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")  # unmount: then the delete goes on to its confirmation
        await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmModal),
                       what="delete confirmation after unmount")
        assert unmounted == ["/mnt/here-test"]
        await pilot.press("escape")
        assert client.exists(fs.keys.superblock)

    try:
        run(app, scenario)
    finally:
        registration.stop()


def test_mount_on_another_host_is_named_and_core_refusal_is_shown(redis_server, client, fs,
                                                                  monkeypatch):
    key = elsewhere(client, fs, "remote1")
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        select(app, fs.prefix)
        await pilot.press("d")
        await wait_for(pilot, lambda: any("build-07:/srv/data" in n and "that host" in n
                                          for n in notifications(app)), what="refusal")
        assert not isinstance(app.screen, ConfirmModal | TypedConfirmModal)
        # a mount that starts after the check: the core's EBUSY reaches the user
        monkeypatch.setattr(filesystems_view, "live_mounts", lambda *a, **k: [])
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmModal))
        app.screen.query_one("#typed").value = fs.prefix
        await settle(pilot, 1)
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: any("is mounted on build-07:/srv/data" in n
                                          for n in notifications(app)), what="EBUSY")
        assert client.exists(fs.keys.superblock)

    try:
        run(app, scenario)
    finally:
        client.delete(key)


def test_restore_onto_a_mounted_filesystem_is_refused(redis_server, client, fs, monkeypatch):
    ino = fs.create(ROOT_INO, "a.txt", 0o644).ino
    fs.write(ino, 0, b"v1")
    fs.release(ino)
    snap = f"{fs.prefix}.s"
    snapshot(client, fs.prefix, snap)
    fs.write(ino, 0, b"v2")
    key = elsewhere(client, fs, "remote2")
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        select(app, snap)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal))
        await pilot.click("#submit")  # into the snapshot's source, which is mounted
        await wait_for(pilot, lambda: any("Restoring into it is refused" in n
                                          for n in notifications(app)), what="refusal")
        assert not isinstance(app.screen, ConfirmModal)
        # the restore form is back, saying where it is mounted
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal) and "is mounted" in
                       str(app.screen.query_one("#form-error").content), what="form again")
        await pilot.press("escape")
        # and the last check in the worker, for a mount that starts after the first one
        monkeypatch.setattr(filesystems_view, "live_mounts", lambda *a, **k: [])
        select(app, snap)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal))
        await pilot.click("#submit")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("restore refused" in n for n in notifications(app)))
        assert fs.read(ino, 0, 10) == b"v2"
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form again")
        await pilot.press("escape")

    try:
        run(app, scenario)
    finally:
        client.delete(key)
    assert not mount_guard.live_mounts(client, fs.prefix, redis_server.url)


def test_offline_copy_deletes_despite_the_dump_records(redis_server, client, fs):
    key = elsewhere(client, fs, "remote3")  # a record the dump carried along
    app = make_app(redis_server.url, client, tab="filesystems")
    app.offline = "dump.rdb"

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        select(app, fs.prefix)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmModal))
        app.screen.query_one("#typed").value = fs.prefix
        await settle(pilot, 1)
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: not client.exists(Keys(fs.prefix).superblock))

    try:
        run(app, scenario)
    finally:
        client.delete(key)


def test_local_mount_table_finds_read_only_mounts():
    """Read-only mounts leave no record: the host's mount table names them."""
    url = "redis://127.0.0.1:6390/0"
    assert mount_source("demo", url) == "demo@127.0.0.1:6390"
    table = ("demo@127.0.0.1:6390 /mnt/a\\040b fuse.redisfs ro,nosuid 0 0\n"
             "demo.edit@127.0.0.1:6390 /mnt/c fuse.redisfs rw 0 0\n"
             "demo@10.0.0.9:6379 /mnt/d fuse.redisfs rw 0 0\n"
             "demo@127.0.0.1:6390 /mnt/e fuse.sshfs rw 0 0\n")
    assert local_mounts("demo", url, table) == ["/mnt/a b"]
    assert local_mounts("demo", "unix:///run/r.sock", "demo@/run/r.sock /x fuse.redisfs rw 0 0"
                        ) == ["/x"]
