"""Shared helpers of the UI tests: a fixed clock, a deterministic demo, waiting for workers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import html
import io
import re
import time
from collections.abc import Awaitable, Callable

import pytest
import redis
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual.worker import WorkerCancelled, WorkerFailed

from redisfs_tui.core import FileSystem, ServerSpec
from redisfs_tui.core.demo import build_demo
from redisfs_tui.core.keys import block_key
from redisfs_tui.ui.app import RedisFsApp
from redisfs_tui.ui.form import FormModal

NOW_NS = 1_700_000_000 * 10**9  # 2023-11-14 22:13:20 UTC: every time the UI shows is fixed
FIXED_UUID = "0" * 32


def clock() -> dt.datetime:
    return dt.datetime.fromtimestamp(NOW_NS / 1e9, dt.UTC)


def demo_client_fixture(prefix: str):
    """A module-scoped fixture: a client of the session's redis-server holding the pinned
    demo filesystem under ``prefix`` (``mclient = demo_client_fixture("uidemo")``)."""

    @pytest.fixture(scope="module")
    def fixture(redis_server):
        client = redis.Redis.from_url(redis_server.url)
        pinned_demo(client, prefix)
        yield client
        client.close()

    return fixture


def pinned_demo(client: redis.Redis, prefix: str) -> FileSystem:
    """The demo filesystem with every volatile field pinned (ctime, created, uuid).

    utimens sets atime/mtime from the fixed clock but ctime is always 'now', so
    the test data gets ctime written directly (fixture data, not behaviour).
    """
    fs, created = build_demo(client, prefix, now_ns=NOW_NS, uid=0, gid=0)
    if created:
        next_ino = int(client.hget(fs.keys.superblock, "next_ino"))
        pipe = client.pipeline(transaction=False)
        for ino in range(1, next_ino + 1):
            pipe.exists(fs.keys.inode(ino))
        exists = pipe.execute()
        for ino, present in zip(range(1, next_ino + 1), exists, strict=True):
            if present:
                pipe.hset(fs.keys.inode(ino), "ctime", NOW_NS)
        pinned_pool = hashlib.sha1(prefix.encode()).hexdigest()[:16]
        pipe.hset(fs.keys.superblock, mapping={"created": NOW_NS, "uuid": FIXED_UUID,
                                               "pool": pinned_pool})
        pipe.execute()
        _pin_blocks(client, fs, exists, pinned_pool)
    return FileSystem(client, prefix)


def _pin_blocks(client: redis.Redis, fs: FileSystem, exists: list[int], pool: str) -> None:
    """Block ids hold the time and random bits: rename every block to a fixed id made of
    the inode and index, in a pool named after the prefix (fixture data, not behaviour)."""
    for ino, present in enumerate(exists, start=1):
        if not present:
            continue
        for index, entry in client.hgetall(fs.keys.block_map(ino)).items():
            epoch, old_id, length = entry.decode().split(".")
            new_id = f"{NOW_NS // 10**9:08x}{ino:04x}{int(index):04x}"
            client.rename(block_key(fs.pool, old_id), block_key(pool, new_id))
            client.hset(fs.keys.block_map(ino), index, f"{epoch}.{new_id}.{length}")


def make_app(url: str, client: redis.Redis, prefix: str | None = None,
             tab: str | None = None, **options) -> RedisFsApp:
    """The app on the fixed clock, without the periodic refresh (tests that need it
    pass ``refresh_seconds``; snapshots stay still)."""
    options.setdefault("clock", clock)
    options.setdefault("refresh_seconds", None)
    return RedisFsApp(client, ServerSpec(url=url), server_label="redis://test-server/0",
                      prefix=prefix, start_tab=tab, **options)


async def settle(pilot: Pilot, rounds: int = 3) -> None:
    """Let timers fire and thread workers finish, a few times over (they chain)."""
    for _ in range(rounds):
        await pilot.pause(0.07)
        with contextlib.suppress(WorkerCancelled, WorkerFailed):  # replaced or failed: fine
            await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 10.0,
                   what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def text_of(widget: Static, width: int = 200) -> str:
    """Plain text of what a Static shows (Content or a Rich renderable)."""
    content = widget.content
    if isinstance(content, str):
        return content
    if hasattr(content, "plain"):
        return str(content.plain)
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def notifications(app: RedisFsApp) -> list[str]:
    return [n.message for n in app._notifications]


def run(app: RedisFsApp, scenario: Callable[[Pilot], Awaitable[None]],
        size: tuple[int, int] = (140, 40)) -> None:
    """Run a pilot scenario to completion (plain def tests, no asyncio plugin needed)."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(pilot)

    asyncio.run(main())


ERROR_WORDS = ("failed", "Traceback", "Error")


def svg_lines(svg: str) -> list[str]:
    """The text rows of a Textual screenshot (SVG): one string per terminal line.

    Textual writes each styled run as a ``<text>`` clipped to its line
    (``clip-path="url(#…-line-N)"``), spaces as ``&#160;``.
    """
    rows: dict[int, list[str]] = {}
    for line, body in re.findall(r'<text [^>]*clip-path="url\(#[\w-]*-line-(\d+)\)"[^>]*>'
                                 r"(.*?)</text>", svg, re.S):
        rows.setdefault(int(line), []).append(html.unescape(body).replace("\xa0", " "))
    return ["".join(rows[n]) for n in sorted(rows)]


def svg_errors(svg: str) -> list[str]:
    """Lines of a screenshot that show an error (a screenshot must never bless one)."""
    return [line.strip() for line in svg_lines(svg) if any(w in line for w in ERROR_WORDS)]


def put(fs: FileSystem, parent: int, name: str, data: bytes) -> int:
    """A closed regular file holding ``data`` (test setup through the core)."""
    ino = fs.create(parent, name, 0o644).ino
    fs.write(ino, 0, data)
    fs.release(ino)
    return ino


async def fill_form(pilot: Pilot, value: str) -> None:
    """Wait for a one-field form, type ``value`` and submit it."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form")
    app.screen.query_one(Input).value = value
    await pilot.press("enter")
