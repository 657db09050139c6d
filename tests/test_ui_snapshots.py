"""Snapshot tests (pytest-textual-snapshot) of every view at a fixed terminal size.

A private redis-server holds only the pinned demo filesystem and one edited
snapshot of it, so the listings are the same on every run; volatile server
facts (memory, save times) and mount records are normalised before the shot.
Regenerate with ``pytest tests/test_ui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from helpers_ui import (
    FIXED_UUID,
    NOW_NS,
    make_app,
    pinned_demo,
    settle,
    svg_errors,
    svg_lines,
    wait_for,
)
from textual.pilot import Pilot

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.core.local_server import LocalRedis
from redisfs_tui.core.registry import server_info
from redisfs_tui.core.snapshot import snapshot
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.diff_screen import DiffScreen
from redisfs_tui.ui.form import FormModal
from redisfs_tui.ui.help_screen import HelpScreen
from redisfs_tui.ui.mounts_view import MountRow, MountsView
from redisfs_tui.ui.server_view import ServerView

SIZE = (130, 36)
NOW_S = NOW_NS / 1e9


@pytest.fixture(scope="module")
def snap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, redis.Redis]]:
    server = LocalRedis(Path(tmp_path_factory.mktemp("snapredis")))
    server.start()
    client = redis.Redis.from_url(server.url)
    demo = pinned_demo(client, "demo")
    snapshot(client, "demo", "demo.edit")
    edit = FileSystem(client, "demo.edit")
    docs = edit.resolve("/docs").ino
    edit.unlink(docs, "todo.txt")
    ino = edit.create(docs, "roadmap.md", 0o644, 0, 0).ino
    edit.write(ino, 0, b"# Roadmap\n")
    edit.release(ino)
    edit.chmod(edit.resolve("/etc/atlas.toml").ino, 0o644)
    client.hset(edit.keys.superblock, mapping={"created": NOW_NS, "uuid": FIXED_UUID})
    # damage for fsck to find: a wrong link count and a name pointing nowhere
    client.hset(edit.keys.inode(edit.resolve("/Makefile").ino), "nlink", 3)
    client.hset(edit.keys.dirents(edit.resolve("/src").ino), "ghost.py", 99999)
    assert demo.count_entries(ROOT_INO) == 10
    yield server.url, client
    client.close()
    server.stop()


def app_for(snap_server, prefix: str | None = "demo", tab: str | None = None):
    url, client = snap_server
    return make_app(url, client, prefix=prefix, tab=tab)


async def ready(pilot: Pilot) -> None:
    await settle(pilot)
    if pilot.app.browser.fs is not None:
        lst = pilot.app.browser.entry_list
        await wait_for(pilot, lambda: not lst.is_loading, what="listing")
    await settle(pilot)


def browse(path: str, select: str, inspector: bool = False):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        pilot.app.browser.navigate(path, select)
        await ready(pilot)
        if inspector:
            await pilot.press("i")
        await settle(pilot)

    return run_before


def test_browser_root(snap_compare, snap_server):
    assert snap_compare(app_for(snap_server), terminal_size=SIZE, run_before=ready)


def test_browser_preview_source(snap_compare, snap_server):
    assert snap_compare(app_for(snap_server), terminal_size=SIZE,
                        run_before=browse("/src/atlas", "main.py"))


def test_browser_preview_binary(snap_compare, snap_server):
    assert snap_compare(app_for(snap_server), terminal_size=SIZE,
                        run_before=browse("/assets", "logo.png"))


def test_browser_preview_large_file(snap_compare, snap_server):
    assert snap_compare(app_for(snap_server), terminal_size=SIZE,
                        run_before=browse("/var/log", "access-full.log"))


def test_browser_inspector(snap_compare, snap_server):
    assert snap_compare(app_for(snap_server), terminal_size=SIZE,
                        run_before=browse("/", "README.md", inspector=True))


def test_browser_inspector_sparse(snap_compare, snap_server):
    assert snap_compare(app_for(snap_server), terminal_size=SIZE,
                        run_before=browse("/images", "disk.img", inspector=True))


def test_browser_filter(snap_compare, snap_server):
    async def run_before(pilot: Pilot) -> None:
        await browse("/var/log", "access-full.log")(pilot)
        await pilot.press("slash", *"11-2", "enter")
        await settle(pilot)

    assert snap_compare(app_for(snap_server), terminal_size=SIZE, run_before=run_before)


def test_confirm_delete(snap_compare, snap_server):
    async def run_before(pilot: Pilot) -> None:
        await browse("/docs", "design.md")(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        await settle(pilot)

    assert snap_compare(app_for(snap_server), terminal_size=SIZE, run_before=run_before)


def test_filesystems_view(snap_compare, snap_server):
    assert snap_compare(app_for(snap_server, prefix=None, tab="filesystems"),
                        terminal_size=SIZE, run_before=ready)


def test_diff_screen(snap_compare, snap_server):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        pilot.app.push_screen(DiffScreen("demo", "demo.edit"))
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "done", False)
                       or getattr(pilot.app.screen, "failed", False), what="diff")
        await settle(pilot)
        assert not pilot.app.screen.failed  # never bless an error screen

    assert snap_compare(app_for(snap_server, prefix=None, tab="filesystems"),
                        terminal_size=SIZE, run_before=run_before)


def test_server_view(snap_compare, snap_server):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        info = server_info(snap_server[1])
        fixed = dataclasses.replace(info, version="7.0.15", used_memory=5_312_000,
                                    rdb_last_save=int(NOW_S) - 7200,
                                    rdb_changes_since_last_save=1234)
        pilot.app.query_one(ServerView).show(fixed)
        await settle(pilot)

    assert snap_compare(app_for(snap_server, prefix=None, tab="server"), terminal_size=SIZE,
                        run_before=run_before)


def test_mounts_view(snap_compare, snap_server):
    rows = [MountRow("demo", "/mnt/demo", False, "build-01", 4242, NOW_S - 5400, NOW_S - 2,
                     "live", "/var/log/redisfs/demo.log"),
            MountRow("demo.edit", "/mnt/review", True, "build-01", 4310, NOW_S - 600, 0.0,
                     "running", "/var/log/redisfs/review.log"),
            MountRow("demo", "/srv/demo", False, "web-02", 977, NOW_S - 86400,
                     NOW_S - 3600, "dead", "")]

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        pilot.app.query_one(MountsView).show(rows, now=NOW_S)
        await settle(pilot)

    assert snap_compare(app_for(snap_server, prefix=None, tab="mounts"), terminal_size=SIZE,
                        run_before=run_before)


def test_fsck_view(snap_compare, snap_server):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        pilot.app.query_one("#fsck-view").select_prefix("demo.edit")
        await settle(pilot)
        await pilot.press("f")
        tree = pilot.app.query_one("#fsck-tree")
        await wait_for(pilot, lambda: "demo.edit:" in str(tree.root.label))
        await settle(pilot)

    assert snap_compare(app_for(snap_server, prefix=None, tab="fsck"), terminal_size=SIZE,
                        run_before=run_before)


def test_help_screen(snap_compare, snap_server):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await settle(pilot)

    assert snap_compare(app_for(snap_server), terminal_size=SIZE, run_before=run_before)



def test_mount_form_at_80x24(snap_compare, snap_server):
    """The smallest usual terminal: the form's fields and both buttons are on screen."""
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormModal))
        await settle(pilot)

    assert snap_compare(app_for(snap_server, tab="mounts"), terminal_size=(80, 24),
                        run_before=run_before)
ROOT = Path(__file__).resolve().parent.parent
IMAGES = sorted((ROOT / "screenshots").glob("*.svg")) + \
    sorted((ROOT / "tests" / "__snapshots__").rglob("*.svg"))


def test_stored_images_show_no_errors():
    """No README screenshot and no stored snapshot may show an error ("diff failed", a
    traceback, a TypeError notification): a snapshot test must never bless one."""
    assert len(IMAGES) > 20
    errors = {path.name: svg_errors(path.read_text()) for path in IMAGES}
    assert {name: lines for name, lines in errors.items() if lines} == {}


@pytest.mark.parametrize("path", [ROOT / "screenshots" / "diff.svg",
                                  ROOT / "tests" / "__snapshots__" / "test_ui_snapshots"
                                  / "test_diff_screen.svg"], ids=["screenshot", "snapshot"])
def test_stored_diff_images_show_the_differences(path: Path):
    """Both fixtures edit the snapshot the same way: these rows must be on the image."""
    text = " ".join(" ".join(svg_lines(path.read_text())).split())
    for expected in ("removed /docs/todo.txt", "added /docs/roadmap.md",
                     "metadata /etc/atlas.toml"):
        assert expected in text
    assert "still comparing" not in text
    assert re.search(r"\d+ added, .*\d+ removed +Enter shows the row.* +Esc closes", text), \
        "no diff summary"
