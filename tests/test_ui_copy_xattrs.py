"""Copy within the filesystem (`C`) carries extended attributes, modes and times."""

from __future__ import annotations

import redis
from helpers_ui import make_app, notifications, run, wait_for
from textual.pilot import Pilot
from textual.widgets import Input

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.ui.form import FormModal


def test_copy_within_carries_xattrs_modes_and_times(redis_server, client: redis.Redis,
                                                   fs: FileSystem):
    src = fs.mkdir(ROOT_INO, "src", 0o750).ino
    f = fs.create(src, "f.txt", 0o640).ino
    fs.write(f, 0, b"data")
    fs.release(f)
    link = fs.symlink(src, "ln", "f.txt").ino
    fs.setxattr(src, "user.dir", b"on the dir")
    fs.setxattr(f, "user.tag", b"blue")
    fs.setxattr(f, "user.bin", bytes(range(256)))
    fs.setxattr(link, "trusted.l", b"on the link")
    fs.utimens(f, 1_000_000_000, 2_000_000_000)
    fs.utimens(src, 3_000_000_000, 4_000_000_000)
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: [e.name for e in app.browser.entry_list.shown]
                       == ["src"])
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form")
        app.screen.query_one(Input).value = "/copy"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n.startswith("Copied to /copy")
                                          for n in notifications(app)), what="copy")
        await wait_for(pilot, lambda: not app.job_bar.busy)

    run(app, scenario)
    copy_dir = fs.resolve("/copy")
    copy_file = fs.resolve("/copy/f.txt")
    copy_link = fs.resolve("/copy/ln")
    assert copy_file.ino != f
    assert fs.getxattr(copy_dir.ino, "user.dir") == b"on the dir"
    assert fs.getxattr(copy_file.ino, "user.tag") == b"blue"
    assert fs.getxattr(copy_file.ino, "user.bin") == bytes(range(256))
    assert sorted(fs.listxattr(copy_file.ino)) == [b"user.bin", b"user.tag"]
    assert fs.getxattr(copy_link.ino, "trusted.l") == b"on the link"
    assert copy_file.mode & 0o7777 == 0o640 and copy_dir.mode & 0o7777 == 0o750
    assert (copy_file.atime_ns, copy_file.mtime_ns) == (1_000_000_000, 2_000_000_000)
    assert (copy_dir.atime_ns, copy_dir.mtime_ns) == (3_000_000_000, 4_000_000_000)
