"""Time and change in the app (real redis-server): ages are relative to the time of
drawing, the visible view refreshes itself, and a Redis that goes away shows as
disconnected until it is back."""

from __future__ import annotations

import datetime as dt
import time

import mount_fixtures
import redis
from helpers_ui import NOW_NS, make_app, notifications, run, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.ui.mounts_view import MountsView

private_redis = mount_fixtures.private_redis  # a fixture (an imported name would trip F811)
MINUTE_NS = 60 * 10**9


class Clock:
    """A clock the test moves forward."""

    def __init__(self) -> None:
        self.ns = NOW_NS

    def __call__(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.ns / 1e9, dt.UTC)


def touch(fs: FileSystem, name: str, mtime_ns: int) -> None:
    ino = fs.create(ROOT_INO, name, 0o644).ino
    fs.release(ino)
    fs.utimens(ino, mtime_ns, mtime_ns)


def shown_age(app, name: str) -> str:
    """The 'modified' cell of ``name`` as the list draws it now."""
    lst = app.browser.entry_list
    index = [e.name for e in lst.shown].index(name)
    line = lst.render_line(index + 1 - int(lst.scroll_y)).text
    return line.split(name)[0]


def test_ages_are_relative_to_now_not_to_app_start(redis_server, client, fs):
    """A file made three minutes after the app started used to show '3 minutes from
    now', and every age stayed what it was at start."""
    clock = Clock()
    touch(fs, "old.txt", NOW_NS)
    app = make_app(redis_server.url, client, prefix=fs.prefix, clock=clock)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: [e.name for e in app.browser.entry_list.shown]
                       == ["old.txt"], what="listing")
        assert "now" in shown_age(app, "old.txt")
        clock.ns += 3 * MINUTE_NS
        touch(fs, "new.txt", clock.ns)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "new.txt" in [e.name for e in app.browser.entry_list.shown])
        await settle(pilot)
        assert "from now" not in shown_age(app, "new.txt")
        assert "now" in shown_age(app, "new.txt")
        assert "3 minutes ago" in shown_age(app, "old.txt")

    run(app, scenario)


def test_visible_views_refresh_themselves(redis_server, client, fs):
    prefix = f"{fs.prefix}.new"
    clock = Clock()
    touch(fs, "a.txt", NOW_NS)
    app = make_app(redis_server.url, client, prefix=fs.prefix, clock=clock,
                   refresh_seconds=0.2)

    async def scenario(pilot: Pilot) -> None:
        lst = app.browser.entry_list
        await wait_for(pilot, lambda: [e.name for e in lst.shown] == ["a.txt"])
        # the browser: a name made elsewhere appears, ages move on, the cursor stays
        touch(fs, "b.txt", NOW_NS)
        lst.select_name("a.txt")
        clock.ns += 7 * MINUTE_NS
        await wait_for(pilot, lambda: [e.name for e in lst.shown] == ["a.txt", "b.txt"],
                       what="browser refresh")
        await wait_for(pilot, lambda: "7 minutes ago" in shown_age(app, "a.txt"),
                       what="ages redrawn")
        assert lst.current.name == "a.txt" and lst.is_loading is False
        # the filesystems table: a new filesystem appears without ctrl+r
        await pilot.press("2")
        table = app.query_one("#fs-table", DataTable)
        await wait_for(pilot, lambda: fs.prefix in [str(table.get_row_at(i)[0])
                                                     for i in range(table.row_count)])
        FileSystem.mkfs(client, prefix, uid=0, gid=0)
        await wait_for(pilot, lambda: prefix in [str(table.get_row_at(i)[0])
                                                 for i in range(table.row_count)],
                       what="filesystems refresh")
        # the mounts table: a new record appears, the cursor stays on its mount
        await pilot.press("4")
        mounts = app.query_one("#mount-table", DataTable)

        def listed() -> list[str]:
            return [str(mounts.get_row_at(i)[2]) for i in range(mounts.row_count)]

        record("/mnt/one")
        await wait_for(pilot, lambda: "/mnt/one" in listed(), what="mounts refresh")
        record("/mnt/two")
        await wait_for(pilot, lambda: "/mnt/two" in listed(), what="second mount")
        mounts.move_cursor(row=listed().index("/mnt/two"))
        chosen = app.query_one(MountsView).selected.mountpoint
        assert chosen == "/mnt/two"
        await pilot.pause(0.8)  # a few refreshes (each clears and refills the table)
        await settle(pilot)
        assert app.query_one(MountsView).selected.mountpoint == chosen

    def record(mountpoint: str) -> None:
        now = time.time()
        client.hset(fs.keys.mount(mountpoint.replace("/", "-")), mapping={
            "host": "elsewhere", "pid": 1, "mountpoint": mountpoint, "ro": 0,
            "started": now, "heartbeat": now + 3600})

    run(app, scenario)
    client.delete(*client.keys(fs.keys.mount("*")))


def test_disconnected_state_and_reconnect(private_redis):
    server = private_redis("flaky")
    client = redis.Redis.from_url(server.url, socket_connect_timeout=0.5)
    app = make_app(server.url, client, tab="server", refresh_seconds=0.2)

    async def scenario(pilot: Pilot) -> None:
        bar = app.query_one("#conn-banner", Static)
        await settle(pilot)
        assert not bar.display and "DISCONNECTED" not in app.sub_title
        server.stop()
        await wait_for(pilot, lambda: bar.display, what="disconnected banner")
        assert "Disconnected from redis://test-server/0" in str(bar.content)
        assert "DISCONNECTED" in app.sub_title
        # notify() posts a message: the toast lands a moment after the banner
        await wait_for(pilot, lambda: any("Lost the connection" in n
                                          for n in notifications(app)), what="lost toast")
        await pilot.pause(0.6)  # more ticks: still one notification, not one per tick
        assert sum("Lost the connection" in n for n in notifications(app)) == 1
        server.start()
        await wait_for(pilot, lambda: not bar.display, timeout=15, what="reconnect")
        assert "DISCONNECTED" not in app.sub_title
        await wait_for(pilot, lambda: any("Reconnected" in n for n in notifications(app)),
                       what="reconnected toast")

    try:
        run(app, scenario)
    finally:
        client.close()


def test_a_server_that_answers_with_an_error_is_not_disconnected(private_redis):
    """An ACL user without INFO: the server answers (NOPERM), so it is connected, and the
    server view's error is notified once, not at every refresh."""
    server = private_redis("acl")
    admin = redis.Redis.from_url(server.url)
    admin.acl_setuser("noinfo", enabled=True, passwords=["+pw"], commands=["+@all", "-info"],
                      keys=["*"])
    client = redis.Redis.from_url(server.url, username="noinfo", password="pw")
    app = make_app(server.url, client, tab="server", refresh_seconds=0.2)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: notifications(app), what="the INFO error")
        await pilot.pause(1.0)  # five refreshes
        await settle(pilot)
        assert not app.query_one("#conn-banner", Static).display
        assert "DISCONNECTED" not in app.sub_title
        errors = [n for n in notifications(app) if "may not run this command" in n]
        assert len(errors) == 1, notifications(app)

    try:
        run(app, scenario)
    finally:
        client.close()
        admin.close()
