"""`redisfs-ui --rdb FILE`: the offline copy never touches this host (real redis-server).

A dump holds mount records; some may name a mountpoint of this very host.  Offline,
`u` must not unmount it, `m` must not start a daemon, `l` must not read a log path
the dump names.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import redis
from helpers_ui import make_app, notifications, run, settle, text_of, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from redisfs_tui.cli import ui as ui_cli
from redisfs_tui.core import FileSystem, rdb_io
from redisfs_tui.ui import mounts_view
from redisfs_tui.ui.app import RedisFsApp
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal
from redisfs_tui.ui.log_screen import LogScreen


def test_offline_copy_never_mounts_unmounts_or_reads_logs(redis_server, client: redis.Redis,
                                                         fs: FileSystem, tmp_path: Path,
                                                         monkeypatch):
    log = tmp_path / "private.log"
    log.write_text("secret log of this host")
    where = tmp_path / "mnt"
    where.mkdir()
    now = time.time()
    client.hset(fs.keys.mount("s1"), mapping={
        "host": socket.gethostname(), "pid": 4242, "mountpoint": str(where), "ro": 0,
        "started": now - 60, "heartbeat": now, "log": str(log)})
    touched: list[tuple] = []
    monkeypatch.setattr(mounts_view, "unmount", lambda *a, **k: touched.append(("u", a)))
    monkeypatch.setattr(mounts_view, "launch_mount", lambda *a, **k: touched.append(("m", a)))
    app = make_app(redis_server.url, client, tab="mounts")
    app.offline = "/backups/dump.rdb"

    async def scenario(pilot: Pilot) -> None:
        table = app.query_one("#mount-table", DataTable)

        def states() -> dict[str, str]:
            return {str(row[2]): str(row[0]) for row in
                    (table.get_row_at(i) for i in range(table.row_count))}

        await wait_for(pilot, lambda: str(where) in states(), what="mount record")
        assert set(states().values()) == {"in dump"}  # not "live": no mount of this host
        table.move_cursor(row=list(states()).index(str(where)))
        help_line = text_of(app.query_one("#mount-help", Static))
        assert "/backups/dump.rdb" in help_line and "not mounts of this host" in help_line
        for key in ("u", "m", "l"):
            await pilot.press(key)
            await settle(pilot, 1)
            assert not isinstance(app.screen, ConfirmModal | FormModal | LogScreen), key
        said = [n for n in notifications(app) if "offline copy of /backups/dump.rdb" in n]
        assert [n.split()[0] for n in said] == ["Unmounting", "Mounting", "Reading"]
        assert touched == []

    try:
        run(app, scenario)
    finally:
        client.delete(fs.keys.mount("s1"))


def test_rdb_flag_opens_the_app_offline(client: redis.Redis, fs: FileSystem, tmp_path: Path,
                                        monkeypatch):
    dump = tmp_path / "dump.rdb"
    rdb_io.export_filesystem(client, fs.prefix, dump)
    seen: list[RedisFsApp] = []
    monkeypatch.setattr(RedisFsApp, "run", lambda self: seen.append(self))
    assert ui_cli.main(["--rdb", str(dump)]) == 0
    assert seen and seen[0].offline == str(dump)
    assert "offline copy of" in seen[0].sub_title
