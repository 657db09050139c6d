"""The UI's "Migrate from C redisfs…": palette, form, job, report, errors keep the form."""

from __future__ import annotations

import redis
from helpers_ui import make_app, notifications, run, settle, wait_for
from legacy_tree import ROOT, CTree
from textual.pilot import Pilot
from textual.widgets import Input, Static

from redisfs_tui.core import FileSystem
from redisfs_tui.ui.commands import RedisFsCommands
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal


async def submit(pilot: Pilot, **values: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormModal), what="form")
    await settle(pilot, 1)
    for name, value in values.items():
        pilot.app.screen.query_one(f"#field-{name}", Input).value = value
    await settle(pilot, 1)
    await pilot.click("#submit")


def field(app, name: str) -> str:
    return app.screen.query_one(f"#field-{name}", Input).value


def form_error(app) -> str:
    """The error the form shows ('' while there is no composed form)."""
    if not isinstance(app.screen, FormModal):
        return ""
    found = app.screen.query("#form-error")
    return str(found.first(Static).content) if found else ""


def test_migrate_from_the_palette_reports_and_opens(redis_server, client: redis.Redis,
                                                    prefix: str) -> None:
    tree = CTree(client, prefix + "c")
    home = tree.mkdir(ROOT, "home")
    f = tree.create(home, "notes")
    tree.write(f, b"kept by the UI")
    client.sadd(f"{prefix}c:DIRENT:-99", 777)  # dangling: a problem in the report
    app = make_app(redis_server.url, client, tab="server")

    async def scenario(pilot: Pilot) -> None:
        hits = [hit async for hit in RedisFsCommands(app.screen).search("migrate")]
        assert hits and hits[0].text == "Migrate from C redisfs…"
        hits[0].command()
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal))
        await settle(pilot, 1)
        assert app.active_tab == "filesystems" and field(app, "source") == "skx"
        await submit(pilot, source=prefix + "c", target=prefix)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="report")
        report = str(app.screen.query_one(".dialog-body", Static).content)
        assert "1 directories, 1 files" in report and "14 bytes" in report
        assert "dangling entry: C inode 777" in report
        assert any(f"Migrated into {prefix}, 1 problem(s)" in n for n in notifications(app))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.browser.fs is not None
                       and app.browser.fs.prefix == prefix, what="browser")
        fs = FileSystem(client, prefix)
        assert fs.read(fs.resolve("/home/notes").ino, 0, 100) == b"kept by the UI"

        # again into the same name: refused, the form comes back with the input
        app.run_command("filesystems", "migrate")
        await submit(pilot, source=prefix + "c", target=prefix)
        await wait_for(pilot, lambda: "already exists" in form_error(app),
                       what="error in the form")
        assert (field(app, "source"), field(app, "target")) == (prefix + "c", prefix)
        await submit(pilot, target=prefix + "d", rdb="/nonexistent/dump.rdb")
        await wait_for(pilot, lambda: "cannot read" in form_error(app),
                       what="rdb error in the form")
        assert field(app, "rdb") == "/nonexistent/dump.rdb"
        await pilot.press("escape")
        assert not client.exists("{" + prefix + "d}:sb")

    run(app, scenario)
