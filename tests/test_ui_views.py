"""Pilot tests of the server, filesystems, fsck and mounts views, help and the command
palette, against a real redis-server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import mount_fixtures
from helpers_ui import make_app, notifications, run, settle, text_of, wait_for
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Static, Tree

from redisfs_tui.core import ROOT_INO, FileSystem, Keys
from redisfs_tui.core.registry import register_mount
from redisfs_tui.core.snapshot import snapshot
from redisfs_tui.ui.commands import COMMANDS, RedisFsCommands
from redisfs_tui.ui.diff_screen import DiffScreen
from redisfs_tui.ui.filesystems_view import FilesystemsView
from redisfs_tui.ui.form import FormModal
from redisfs_tui.ui.help_screen import HelpScreen, help_text
from redisfs_tui.ui.keys import SHOWN
from redisfs_tui.ui.log_screen import LogScreen
from redisfs_tui.ui.typed_confirm import TypedConfirmModal

private_redis = mount_fixtures.private_redis  # a fixture (an imported name would trip F811)


def table_column(app, selector: str, column: int = 0) -> list[str]:
    table = app.query_one(selector, DataTable)
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def fill_form(pilot: Pilot, **values: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormModal), what="form")
    for name, value in values.items():
        pilot.app.screen.query_one(f"#field-{name}").value = value
    await settle(pilot, 1)
    await pilot.click("#submit")
    await settle(pilot, 1)


def test_server_view_shows_version_and_persistence_warning(redis_server, client):
    app = make_app(redis_server.url, client, tab="server")
    version = client.info("server")["redis_version"]

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: version in text_of(app.query_one("#server-info", Static)))
        text = text_of(app.query_one("#server-info", Static))
        assert "redis://test-server/0" in text and "master" in text
        assert "NOT persisted" in text and "CONFIG SET appendonly yes" in text  # test server
        client.config_set("appendonly", "yes")
        try:
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "NOT persisted" not in
                           text_of(app.query_one("#server-info", Static)))
            assert "AOF" in text_of(app.query_one("#server-info", Static))
        finally:
            client.config_set("appendonly", "no")
        # connecting to a server that is not there is a notification, not a crash
        await pilot.press("c")
        await fill_form(pilot, url="redis://127.0.0.1:1/0")
        await wait_for(pilot, lambda: any("Cannot connect" in n for n in notifications(app)))
        assert app.client is client

    run(app, scenario)


def test_switching_to_an_evicting_server_is_refused_unless_allowed(private_redis, client):
    """The connect form checks maxmemory-policy like the command line does; with
    --allow-eviction the switch happens, with a warning and a line in the server view."""
    lru = private_redis("lru", extra_args=["--maxmemory-policy", "allkeys-lru"])

    async def scenario(pilot: Pilot) -> None:
        app = pilot.app
        await pilot.press("c")
        await fill_form(pilot, url=lru.url)
        if not app.allow_eviction:
            await wait_for(pilot, lambda: any("may evict file data" in n
                                              for n in notifications(app)))
            assert app.client is client
            return
        await wait_for(pilot, lambda: app.client is not client)
        await wait_for(pilot, lambda: "maxmemory-policy is allkeys-lru" in
                       text_of(app.query_one("#server-info", Static)))
        await wait_for(pilot, lambda: any("--allow-eviction" in n for n in notifications(app)),
                       what="eviction warning")

    run(make_app("redis://unused", client, tab="server"), scenario)
    allowed = make_app("redis://unused", client, tab="server")
    allowed.allow_eviction = True
    run(allowed, scenario)


def test_filesystems_mkfs_snapshot_diff_restore_delete(redis_server, client, prefix):
    app = make_app(redis_server.url, client, tab="filesystems")
    snap = f"{prefix}.s1"

    def prefixes() -> list[str]:
        return table_column(app, "#fs-table")

    def select(name: str) -> None:
        table = app.query_one("#fs-table", DataTable)
        table.move_cursor(row=table.get_row_index(name))

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("n")
        await fill_form(pilot, prefix="bad prefix!")
        assert isinstance(app.screen, FormModal)  # invalid prefix: the form explains and stays
        assert "A-Z" in str(app.screen.query_one("#form-error", Static).content)
        await fill_form(pilot, prefix=prefix, codec="zlib")
        await wait_for(pilot, lambda: prefix in prefixes(), what="mkfs")
        fs = FileSystem(client, prefix)
        assert fs.codec == "zlib"
        ino = fs.create(ROOT_INO, "a.txt", 0o644).ino
        fs.write(ino, 0, b"v1")
        fs.release(ino)

        select(prefix)
        await pilot.press("s")
        await fill_form(pilot, target=snap)
        await wait_for(pilot, lambda: snap in prefixes(), what="snapshot")
        row = app.query_one(FilesystemsView).summaries
        assert next(s for s in row if s.prefix == snap).snapshot_of == prefix

        fs.write(ino, 0, b"v2 longer")
        fs.mkdir(ROOT_INO, "new")
        select(snap)
        await pilot.press("D")
        await fill_form(pilot)  # defaults: from the snapshot's source to the snapshot
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        await wait_for(pilot, lambda: app.screen.done, what="diff")
        summary = text_of(app.screen.query_one("#diff-summary", Static))
        changes = dict(zip(table_column(app.screen, "#diff-table", 2),
                           table_column(app.screen, "#diff-table", 1), strict=True))
        assert changes == {"/new": "removed", "/a.txt": "modified"}, summary
        await pilot.press("escape")

        select(snap)
        await pilot.press("r")
        await fill_form(pilot)  # restore into the snapshot's source
        await wait_for(pilot, lambda: pilot.app.screen.__class__.__name__ == "ConfirmModal")
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: any("Restored" in n for n in notifications(app)))
        assert FileSystem(client, prefix).read(fs.resolve("/a.txt").ino, 0, 100) == b"v1"

        select(snap)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmModal))
        button = app.screen.query_one("#confirm", Button)
        app.screen.query_one(Input).value = prefix  # the wrong name keeps the button off
        await settle(pilot, 1)
        assert button.disabled
        app.screen.query_one(Input).value = snap
        await settle(pilot, 1)
        assert not button.disabled
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: snap not in prefixes(), what="delete")
        assert not client.exists(Keys(snap).superblock)

    run(app, scenario)


def test_diff_with_several_differences_lists_them_sorted(redis_server, client, fs):
    """Three differences used to end in "diff failed" (DataTable.sort compared Rich Text
    cells, which have no order); the table must come out sorted by path instead."""
    for name in ("b.txt", "a.txt"):
        fs.release(fs.create(ROOT_INO, name, 0o644).ino)
    snap = f"{fs.prefix}.s"
    snapshot(client, fs.prefix, snap)
    fs.write(fs.resolve("/b.txt").ino, 0, b"changed")
    fs.unlink(ROOT_INO, "a.txt")
    fs.mkdir(ROOT_INO, "c")
    app = make_app(redis_server.url, client, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        app.push_screen(DiffScreen(snap, fs.prefix))
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.done or screen.failed, what="diff")
        await settle(pilot)
        summary = text_of(screen.query_one("#diff-summary", Static))
        assert not screen.failed and "failed" not in summary, summary
        assert not [n for n in notifications(app) if "Error" in n]
        assert table_column(screen, "#diff-table", 2) == ["/a.txt", "/b.txt", "/c"]
        assert table_column(screen, "#diff-table", 1) == ["removed", "modified", "added"]
        assert "1 added" in summary and "1 modified" in summary and "1 removed" in summary

    run(app, scenario)


def test_fsck_finds_and_repairs(redis_server, client, fs: FileSystem):
    ino = fs.create(ROOT_INO, "f", 0o644).ino
    fs.release(ino)
    client.hset(fs.keys.inode(ino), "nlink", 5)  # damage: wrong link count
    app = make_app(redis_server.url, client, prefix=fs.prefix, tab="fsck")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        app.query_one("#fsck-view").select_prefix(fs.prefix)
        await settle(pilot)
        await pilot.press("f")
        tree = app.query_one(Tree)
        await wait_for(pilot, lambda: "problems" in str(tree.root.label), what="check")
        kinds = [str(node.label) for node in tree.root.children]
        assert any(k.startswith("bad-nlink") for k in kinds)
        leaf = str(tree.root.children[0].children[0].label)
        assert f"inode {ino}" in leaf and "should be 1" in leaf
        await pilot.press("R")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmModal")
        await pilot.press("y")
        await wait_for(pilot, lambda: "clean" in str(tree.root.label), what="repair")
        assert fs.getattr(ino).nlink == 1

    run(app, scenario)


def test_mounts_view_lists_flags_dead_and_shows_log(redis_server, client, fs, tmp_path: Path):
    log = tmp_path / "mount.log"
    log.write_text("mounted fine\nsecond line\n")
    live = register_mount(fs, "/mnt/live-test", str(log))
    dead = FileSystem(client, fs.prefix)
    client.hset(dead.keys.mount(dead.session_id),
                mapping={"host": "elsewhere", "pid": 42, "mountpoint": "/mnt/dead", "ro": 0,
                         "started": time.time() - 3600, "heartbeat": time.time() - 600,
                         "log": ""})
    app = make_app(redis_server.url, client, tab="mounts")

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: "/mnt/dead" in table_column(app, "#mount-table", 2))
        states = dict(zip(table_column(app, "#mount-table", 2),
                          table_column(app, "#mount-table", 0), strict=True))
        assert states["/mnt/live-test"] == "live" and states["/mnt/dead"] == "dead"
        assert "dead mount" in text_of(app.query_one("#mount-help", Static))
        table = app.query_one("#mount-table", DataTable)
        table.move_cursor(row=table_column(app, "#mount-table", 2).index("/mnt/live-test"))
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        await wait_for(pilot, lambda: app.screen.last.startswith("mounted fine"))
        await pilot.press("escape")
        table.move_cursor(row=table_column(app, "#mount-table", 2).index("/mnt/dead"))
        await pilot.press("u")  # on another host: refused with a message after the confirm
        await pilot.press("y")
        await wait_for(pilot, lambda: any("elsewhere" in n for n in notifications(app)))

    try:
        run(app, scenario)
    finally:
        live.stop()
        client.delete(dead.keys.mount(dead.session_id))


def test_help_lists_every_binding(redis_server, client):
    app = make_app(redis_server.url, client, tab="browser")
    doc = help_text()

    async def scenario(pilot: Pilot) -> None:
        seen = 0
        for node in [app, *app.query("*")]:
            for binding in node._bindings.key_to_bindings.values():
                for b in binding:
                    if b.id and not b.id.startswith(("list.", "app.tab-")):
                        keys = b.key.split(",")
                        assert any(f"`{SHOWN.get(k, k)}`" in doc for k in keys), \
                            f"{b.id} ({b.key}) missing from help"
                        seen += 1
        assert seen > 25
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

    run(app, scenario)


def test_command_palette_runs_actions(redis_server, client):
    app = make_app(redis_server.url, client, tab="server")

    async def scenario(pilot: Pilot) -> None:
        for command in COMMANDS:  # every entry names a real action of a real view
            target = app if not command.tab else app.view(command.tab)
            assert not command.action or hasattr(target, f"action_{command.action}"), command
        provider = RedisFsCommands(app.screen)
        hits = [hit async for hit in provider.search("new filesystem")]
        assert hits and hits[0].text == "New filesystem (mkfs)"
        hits[0].command()
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal))
        assert app.active_tab == "filesystems"
        await pilot.press("escape")
        discovered = [hit async for hit in provider.discover()]
        assert len(discovered) == len(COMMANDS)
        await pilot.press("ctrl+p")
        await settle(pilot, 1)
        await pilot.press(*"mount a", "enter")
        await settle(pilot)
        assert app.active_tab == "mounts"

    run(app, scenario)


def test_ui_package_keeps_textual_out_of_core():
    """core/ (embedded.py and demo.py included) must never import Textual."""
    import subprocess
    import sys

    code = ("import sys, redisfs_tui.core, redisfs_tui.core.demo, redisfs_tui.core.embedded, "
            "redisfs_tui.core.registry, redisfs_tui.core.fsck, redisfs_tui.core.snapshot;"
            "bad=[m for m in sys.modules if re.match(r'(textual|mfusepy|fuse)\\b', m)];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", "import re;" + code], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.match(r"\[\]", result.stdout)
