"""Regenerate screenshots/*.svg: the real app against a real redis-server with the demo.

Starts a private redis-server (AOF on, like the embedded default), builds the demo
filesystem, takes a snapshot of it and edits the copy (so diff and
fsck have something to show), mounts the demo with the real ``redisfs`` daemon for
the Mounts view, then drives the app with ``App.run_test()`` and saves one SVG per view.

    python scripts/export_screenshots.py [--out screenshots] [--no-mount]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from redisfs_tui.core import FileSystem, ServerSpec
from redisfs_tui.core.demo import build_demo
from redisfs_tui.core.local_server import LocalRedis
from redisfs_tui.core.snapshot import snapshot
from redisfs_tui.ui.app import RedisFsApp
from redisfs_tui.ui.diff_screen import DiffScreen
from redisfs_tui.ui.mount_control import launch_mount, unmount

SIZE = (140, 40)
Step = Callable[[Pilot], Awaitable[None]]

def prepare(client: redis.Redis) -> None:
    """Demo + an edited snapshot with two fsck problems (all through the core API,
    except the deliberate damage, which fsck exists to find)."""
    build_demo(client, "demo")
    snapshot(client, "demo", "demo.edit")
    edit = FileSystem(client, "demo.edit")
    docs = edit.resolve("/docs").ino
    edit.unlink(docs, "todo.txt")
    ino = edit.create(docs, "roadmap.md", 0o644).ino
    edit.write(ino, 0, b"# Roadmap\n\n- snapshots every hour\n")
    edit.release(ino)
    edit.chmod(edit.resolve("/etc/atlas.toml").ino, 0o644)
    make = edit.resolve("/Makefile")  # a changed file: enter in the diff shows its text diff
    text = bytes(edit.read(make.ino, 0, make.size)).replace(b"pytest -q", b"pytest -q -x")
    edit.write(make.ino, 0, text + b"\nlint:\n\truff check .\n")
    client.hset(edit.keys.inode(edit.resolve("/Makefile").ino), "nlink", 3)
    client.hset(edit.keys.dirents(edit.resolve("/src").ino), "ghost.py", 99999)


async def settle(pilot: Pilot, rounds: int = 4) -> None:
    for _ in range(rounds):
        await pilot.pause(0.08)
        with contextlib.suppress(WorkerCancelled, WorkerFailed):  # replaced or failed: fine
            await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = 15) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise RuntimeError("screenshot step timed out")


def browse(path: str, select: str, keys: tuple[str, ...] = ()) -> Step:
    async def step(pilot: Pilot) -> None:
        app = pilot.app
        await until(pilot, lambda: app.browser.fs is not None)
        app.browser.navigate(path, select)
        await until(pilot, lambda: not app.browser.entry_list.is_loading)
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
        await settle(pilot)

    return step


def keys(*pressed: str) -> Step:
    async def step(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press(*pressed)
        await settle(pilot)

    return step


async def fsck(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.query_one("#fsck-view").select_prefix("demo.edit")
    await settle(pilot)
    await pilot.press("f")
    await until(pilot, lambda: "demo.edit:" in str(pilot.app.query_one("#fsck-tree").root.label))
    await settle(pilot)


async def diff(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.push_screen(DiffScreen("demo", "demo.edit"))
    await until(pilot, lambda: getattr(pilot.app.screen, "done", False))
    await settle(pilot)


async def file_diff(pilot: Pilot) -> None:
    await diff(pilot)
    table = pilot.app.screen.query_one("#diff-table")
    table.move_cursor(row=table.get_row_index("/Makefile"))
    await pilot.press("enter")
    await until(pilot, lambda: getattr(pilot.app.screen, "lines", None))
    await settle(pilot)


SHOTS: list[tuple[str, str | None, str | None, Step]] = [
    ("browser", "demo", None, browse("/", "README.md")),
    ("preview-source", "demo", None, browse("/src/atlas", "main.py")),
    ("preview-binary", "demo", None, browse("/assets", "logo.png")),
    ("preview-large-file", "demo", None, browse("/var/log", "access-full.log")),
    ("inspector", "demo", None, browse("/var/log", "access-full.log", ("i",))),
    ("inspector-sparse", "demo", None, browse("/images", "disk.img", ("i",))),
    ("filter", "demo", None, browse("/var/log", "access-full.log", ("slash", *"11-2"))),
    ("confirm-delete", "demo", None, browse("/docs", "design.md", ("d",))),
    ("filesystems", None, "filesystems", keys()),
    ("diff", None, "filesystems", diff),
    ("file-diff", None, "filesystems", file_diff),
    ("server", None, "server", keys()),
    ("mounts", None, "mounts", keys()),
    ("fsck", None, "fsck", fsck),
    ("help", "demo", None, keys("question_mark")),
    ("command-palette", "demo", None, keys("ctrl+p", *"snap")),
]


ERROR_WORDS = ("failed", "Traceback", "Error")


def error_lines(svg: str) -> list[str]:
    """Lines of a screenshot that show an error ("diff failed", a notification naming a
    TypeError): such an image is never written over a good one."""
    rows: dict[int, list[str]] = {}
    for line, body in re.findall(r'<text [^>]*clip-path="url\(#[\w-]*-line-(\d+)\)"[^>]*>'
                                 r"(.*?)</text>", svg, re.S):
        rows.setdefault(int(line), []).append(html.unescape(body).replace("\xa0", " "))
    lines = ["".join(rows[n]) for n in sorted(rows)]
    return [line.strip() for line in lines if any(w in line for w in ERROR_WORDS)]


async def shoot(url: str, client: redis.Redis, out: Path) -> None:
    bad: dict[str, list[str]] = {}
    for name, prefix, tab, step in SHOTS:
        app = RedisFsApp(client, ServerSpec(url=url), server_label="redis://localhost:6379/0",
                         prefix=prefix, start_tab=tab)
        async with app.run_test(size=SIZE) as pilot:
            await step(pilot)
            svg = app.export_screenshot()
        if errors := error_lines(svg):
            bad[name] = errors
            print(f"NOT written: {name}.svg shows an error: {errors}")
            continue
        (out / f"{name}.svg").write_text(svg, encoding="utf-8")
        print(f"wrote {out / name}.svg")
    if bad:
        raise SystemExit(f"{len(bad)} screenshot(s) showed errors: {', '.join(bad)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent
                                             / "screenshots"))
    parser.add_argument("--no-mount", action="store_true",
                        help="skip the live FUSE mount (the Mounts view will be empty)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, \
            LocalRedis(Path(tmp) / "redis", appendonly=True, save="3600 1") as server:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg")  # mount logs stay in tmp
        client = redis.Redis.from_url(server.url)
        prepare(client)
        mount = None
        mountpoint = Path(tmp) / "demo"
        if not args.no_mount:
            mountpoint.mkdir()
            mount = launch_mount(server.url, "demo", str(mountpoint))
        try:
            asyncio.run(shoot(server.url, client, out))
        finally:
            if mount is not None:
                unmount(str(mountpoint))
                if mount.process is not None:
                    mount.process.wait(timeout=15)


if __name__ == "__main__":
    main()
