"""Pilot tests of the browser against a real redis-server: navigate, filter, sort,
preview, inspect, and every file operation with its confirmation."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from helpers_invariants import stored_key
from helpers_ui import (
    demo_client_fixture,
    make_app,
    notifications,
    run,
    settle,
    text_of,
    wait_for,
)
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.ui.browser import BrowserView
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal

DEMO = "uidemo"


mclient = demo_client_fixture(DEMO)


def names(app) -> list[str]:
    return [e.name for e in app.browser.entry_list.shown]


async def goto(pilot: Pilot, path: str, select: str | None = None) -> BrowserView:
    browser = pilot.app.browser
    browser.navigate(path, select)
    await wait_for(pilot, lambda: not browser.entry_list.is_loading, what=f"listing {path}")
    await settle(pilot)
    if select:
        assert browser.entry_list.current is not None
        assert browser.entry_list.current.name == select
    return browser


def preview_text(app) -> tuple[str, str]:
    return (text_of(app.query_one("#preview-header", Static)),
            text_of(app.query_one("#preview-body", Static)))


def test_open_navigate_breadcrumbs_and_parent(redis_server, mclient):
    app = make_app(redis_server.url, mclient, prefix=DEMO)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: "README.md" in names(app), what="root listing")
        assert names(app)[:7] == ["assets", "bin", "docs", "etc", "images", "src", "var"]
        assert app.focused is app.browser.entry_list
        while app.browser.entry_list.current.name != "src":
            await pilot.press("j")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.browser.path == "/src" and "atlas" in names(app))
        assert names(app) == ["atlas", "geohash", "README.md"]
        crumbs = text_of(app.query_one("#crumbs", Static))
        assert crumbs.startswith(f"{DEMO}:/") and "src" in crumbs
        await pilot.press("l")  # into atlas
        await wait_for(pilot, lambda: app.browser.path == "/src/atlas")
        await pilot.press("backspace")
        await wait_for(pilot, lambda: app.browser.path == "/src" and names(app))
        assert app.browser.entry_list.current.name == "atlas"  # cursor back where we came from
        await pilot.press("h")
        await wait_for(pilot, lambda: app.browser.path == "/" and names(app))
        assert app.browser.entry_list.current.name == "src"
        # following the symlink lands on its target
        await goto(pilot, "/", "latest.log")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.browser.path == "/var/log" and names(app))
        await wait_for(pilot, lambda: app.browser.entry_list.current.name == "access-full.log")

    run(app, scenario)


def test_filter_and_sort(redis_server, mclient):
    app = make_app(redis_server.url, mclient, prefix=DEMO)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: "README.md" in names(app))
        await goto(pilot, "/var/log")
        assert len(names(app)) == 31
        await pilot.press("slash", *"full")
        assert isinstance(app.focused, Input)
        await wait_for(pilot, lambda: names(app) == ["access-full.log"], what="filter")
        status = text_of(app.query_one("#browser-status", Static))
        assert "filter 'full': 1 match" in status
        await pilot.press("enter")  # keeps the filter, back to the list
        assert app.focused is app.browser.entry_list
        await pilot.press("escape")
        assert len(names(app)) == 31
        await pilot.press("s")  # name -> size: the 12 MiB log comes first
        assert app.browser.entry_list.sort_key.value == "size"
        assert names(app)[0] == "access-full.log"
        await pilot.press("S")  # reversed: smallest first
        assert names(app)[-1] == "access-full.log"
        await pilot.press("s")  # -> modified; still reversed, so oldest first
        times = [e.attr.mtime_ns for e in app.browser.entry_list.shown]
        assert times == sorted(times)
        await pilot.press("slash", *"zzz")
        await settle(pilot)
        assert names(app) == []
        await pilot.press("escape")

        # the mouse: a column title sorts, a row click moves the cursor, a crumb jumps
        lst = app.browser.entry_list
        cols = lst.columns_for(lst.scrollable_content_region.width)
        x = 1 + sum(w + 1 for title, w, _ in cols[:[c[0] for c in cols].index("size")])
        await pilot.click(lst, offset=(x + 2, 0))
        assert lst.sort_key.value == "size" and names(app)[0] == "access-full.log"
        await pilot.click(lst, offset=(x + 2, 3))
        assert lst.cursor == 2
        await pilot.click("#crumbs", offset=(2, 0))
        await wait_for(pilot, lambda: app.browser.path == "/" and "var" in names(app))
        assert lst.current.name == "var"  # the cursor lands on the directory we came from

    run(app, scenario)


def test_preview_text_binary_large_and_dir(redis_server, mclient):
    app = make_app(redis_server.url, mclient, prefix=DEMO)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: "README.md" in names(app))
        await goto(pilot, "/src/atlas", "main.py")
        await wait_for(pilot, lambda: "main.py: text" in preview_text(app)[0], what="preview")
        header, body = preview_text(app)
        assert "def distance_to" in body and "text/x-python" in header
        body_content = app.query_one("#preview-body", Static).content
        assert len(body_content.spans) > 20  # highlighted, not plain

        await goto(pilot, "/assets", "logo.png")
        await wait_for(pilot, lambda: "logo.png: binary" in preview_text(app)[0])
        header, body = preview_text(app)
        assert body.startswith("00000000  89 50 4e 47 0d 0a 1a 0a")
        assert "image/png" in header

        await goto(pilot, "/var/log", "access-full.log")
        await wait_for(pilot, lambda: "access-full.log" in preview_text(app)[0])
        header, body = preview_text(app)
        assert "first 64.0 KiB of 11.8 MiB" in header
        assert body.count("\n") < 1000 and "GET /" in body

        await goto(pilot, "/", "docs")
        await wait_for(pilot, lambda: "docs: directory" in preview_text(app)[0])
        assert "entries" in preview_text(app)[1]

        await goto(pilot, "/", "latest.log")
        await wait_for(pilot, lambda: "latest.log ->" in preview_text(app)[0])
        assert "var/log/access-full.log" in preview_text(app)[1]

    run(app, scenario)


def test_inspector_shows_raw_keys(redis_server, mclient):
    fs = FileSystem(mclient, DEMO)
    readme = fs.resolve("/README.md")
    big = fs.resolve("/var/log/access-full.log")
    app = make_app(redis_server.url, mclient, prefix=DEMO)

    def inspector() -> str:
        return text_of(app.query_one("#inspector-body", Static))

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: "README.md" in names(app))
        await goto(pilot, "/", "README.md")
        await pilot.press("i")
        await wait_for(pilot, lambda: fs.keys.inode(readme.ino) in inspector(), what="inspector")
        text = inspector()
        assert "nlink" in text and "-rw-r--r--" in text
        assert fs.keys.xattrs(readme.ino) in text and "user.comment" in text
        assert stored_key(fs, readme.ino, 0) in text
        await goto(pilot, "/var/log", "access-full.log")
        await wait_for(pilot, lambda: fs.keys.inode(big.ino) in inspector())
        text = inspector()
        blocks = (big.size + fs.block_size - 1) // fs.block_size
        assert f"{blocks} of 128.0 KiB (default codec zstd): {blocks} stored, 0 holes" in text
        assert "first 64 stored blocks listed" in text  # no more than 64 blocks are fetched
        assert stored_key(fs, big.ino, 63) in text and stored_key(fs, big.ino, 64) not in text
        await goto(pilot, "/assets", "blob.bin")
        blob = fs.resolve("/assets/blob.bin").ino
        await wait_for(pilot, lambda: stored_key(fs, blob, 0) in inspector())
        assert " raw " in inspector()  # random bytes do not compress: stored raw
        await goto(pilot, "/", "src")
        await wait_for(pilot, lambda: "entries" in inspector() and "geohash" in inspector())
        await pilot.press("i")  # back to the preview
        await wait_for(pilot, lambda: "src: directory" in preview_text(app)[0])

    run(app, scenario)


def test_file_operations_with_confirm(redis_server, client, fs: FileSystem, tmp_path: Path):
    fs.mkdir(ROOT_INO, "keep")
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def answer_form(pilot: Pilot, text: str) -> None:
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form")
        box = app.screen.query(Input).first()
        box.value = text
        await pilot.press("enter")

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: names(app) == ["keep"])
        await pilot.press("n")
        await answer_form(pilot, "bad/name")
        assert isinstance(app.screen, FormModal)  # refused: the form stays with an error
        await answer_form(pilot, "made")
        await wait_for(pilot, lambda: "made" in names(app), what="mkdir")
        assert fs.lookup(ROOT_INO, "made").is_dir
        assert app.browser.entry_list.current.name == "made"

        await pilot.press("r")
        await answer_form(pilot, "renamed")
        await wait_for(pilot, lambda: "renamed" in names(app), what="rename")
        assert "made" not in names(app)

        await pilot.press("c")
        await answer_form(pilot, "700")
        await wait_for(pilot, lambda: stat.S_IMODE(fs.lookup(ROOT_INO, "renamed").mode) == 0o700)

        await pilot.press("d")  # delete, then cancel: nothing happens
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert app.focused is app.screen.query_one("#cancel", Button)  # safe default
        await pilot.press("escape")
        await settle(pilot)
        assert fs.lookup(ROOT_INO, "renamed").is_dir

        # copy a local tree in, then delete it as a tree job
        src = tmp_path / "photos"
        (src / "2024").mkdir(parents=True)
        (src / "2024" / "a.txt").write_text("hello")
        (src / "b.bin").write_bytes(bytes(300_000) + b"tail")
        await pilot.press("a")
        await answer_form(pilot, str(src))
        await wait_for(pilot, lambda: "photos" in names(app), what="copy in")
        assert fs.read(fs.resolve("/photos/2024/a.txt").ino, 0, 10) == b"hello"
        assert fs.resolve("/photos/b.bin").size == 300_004

        out = tmp_path / "out"
        out.mkdir()
        app.browser.entry_list.select_name("photos")
        await pilot.press("o")
        await answer_form(pilot, str(out))
        await wait_for(pilot, lambda: (out / "photos" / "b.bin").exists()
                       and not app.job_bar.busy, what="copy out")
        await settle(pilot)
        assert (out / "photos" / "2024" / "a.txt").read_text() == "hello"
        assert (out / "photos" / "b.bin").read_bytes() == bytes(300_000) + b"tail"

        app.browser.entry_list.select_name("photos")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: "photos" not in names(app), what="tree delete")
        with pytest.raises(OSError):
            fs.resolve("/photos")
        assert any("Deleted photos/" in n for n in notifications(app))

        app.browser.entry_list.select_name("renamed")
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: names(app) == ["keep"], what="delete")

        # an error becomes a notification, not a crash: rename onto an existing name
        fs.mkdir(ROOT_INO, "other")
        app.browser.reload("keep")
        await wait_for(pilot, lambda: "other" in names(app))
        app.browser.entry_list.select_name("keep")
        await pilot.press("r")
        await answer_form(pilot, "other")
        await wait_for(pilot, lambda: any("exists" in n for n in notifications(app)),
                       what="error notification")
        assert os.path.isdir(out)

    run(app, scenario)


def test_large_directory_loads_in_pages(redis_server, client, fs: FileSystem):
    for i in range(2500):
        fs.mknod(ROOT_INO, f"f{i:05d}", stat.S_IFREG | 0o644)
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        lst = app.browser.entry_list
        await wait_for(pilot, lambda: len(lst.entries) == 2500 and not lst.is_loading)
        assert [e.name for e in lst.shown[:3]] == ["f00000", "f00001", "f00002"]
        await pilot.press("end")
        assert lst.current.name == "f02499"
        assert lst.scroll_y > 2000  # the cursor row is scrolled into view
        await pilot.press("slash", *"f024")
        await wait_for(pilot, lambda: len(lst.shown) == 100)
        assert "2,500 entries" in text_of(app.query_one("#browser-status", Static))

    run(app, scenario)


def test_missing_filesystem_is_a_notification(redis_server, client):
    app = make_app(redis_server.url, client, prefix="no-such-fs")

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: any("no-such-fs" in n for n in notifications(app)))
        assert app.browser.fs is None

    run(app, scenario)


async def poll(condition, timeout: float = 10.0) -> None:
    """Wait without pilot.pause(), which waits for the CPU to go idle (a running job
    keeps it busy until it ends)."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def test_long_job_shows_progress_and_cancels(redis_server, client, fs: FileSystem):
    many = fs.mkdir(ROOT_INO, "many").ino
    for i in range(4000):
        fs.mknod(many, f"n{i:04d}", stat.S_IFREG | 0o644)
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: names(app) == ["many"])
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        app.simulate_key("y")  # deleting 4000 names one by one takes a moment
        await poll(lambda: app.job_bar.busy and app.job_bar.display)
        assert "Deleting many/" in str(app.job_bar.query_one("#job-title", Static).content)
        await poll(lambda: "entries" in str(app.job_bar.query_one("#job-detail",
                                                                   Static).content))
        app.simulate_key("escape")  # the list has nothing to clear: escape cancels the job
        await poll(lambda: not app.job_bar.display)
        await wait_for(pilot, lambda: any("cancelled" in n for n in notifications(app)))
        await settle(pilot)
        left = fs.count_entries(many)
        assert 0 < left < 4000  # stopped part way; every finished step is complete
        assert "many" in names(app)

    run(app, scenario)
