"""Copy out and delete tree against hostile or damaged trees (real redis-server): names
that climb out of the destination, symlinks on the local disk, directory loops."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import redis
from helpers_ui import make_app, notifications, run, text_of, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, Static

from redisfs_tui.core import ROOT_INO, FileSystem, FsError
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal
from redisfs_tui.ui.transfer import (
    TransferCancelled,
    copy_out,
    local_conflicts,
    plan_remote,
    remove_tree,
)


def nothing(*_args) -> None:
    return None


def never() -> bool:
    return False


def put(fs: FileSystem, parent: int, name: str, data: bytes) -> int:
    ino = fs.create(parent, name, 0o644).ino
    fs.write(ino, 0, data)
    fs.release(ino)
    return ino


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def test_copy_out_refuses_names_that_leave_the_destination(client: redis.Redis,
                                                           fs: FileSystem, tmp_path: Path):
    """Damaged (or hostile) directory entries: '..', '/', absolute names.  None may write
    outside the destination; each is reported, the rest of the tree is copied."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    d = fs.mkdir(ROOT_INO, "d", 0o755).ino
    put(fs, d, "ok.txt", b"fine")
    evil = put(fs, ROOT_INO, "evil", b"OVERWRITTEN")
    sub = fs.mkdir(ROOT_INO, "sub", 0o755).ino
    dirents = fs.keys.dirents(d)
    client.hset(dirents, "../../victim.txt", evil)  # relative climb
    client.hset(dirents, str(victim), evil)  # absolute: os.path.join drops the destination
    client.hset(dirents, "x/../../../victim.txt", evil)  # a '/' inside one name
    client.hset(dirents, "..", sub)
    out = tmp_path / "out"
    out.mkdir()
    before = files_under(tmp_path)

    result = copy_out(fs, fs.resolve("/d"), "d", str(out), nothing, never)

    assert victim.read_text() == "precious"
    assert files_under(tmp_path) - before == {"out/d", "out/d/ok.txt"}
    assert (out / "d" / "ok.txt").read_text() == "fine"
    assert len(result.rejected) == 4 and "unsafe names refused" in result.summary()
    assert any("../../victim.txt" in r for r in result.rejected)
    # the selected entry's own name is checked too
    top = copy_out(fs, fs.resolve("/d"), "../d", str(out / "d"), nothing, never)
    assert top.rejected == ["'../d'"] and top.files == top.dirs == 0
    assert files_under(tmp_path) - before == {"out/d", "out/d/ok.txt"}


def test_copy_out_never_follows_local_symlinks(fs: FileSystem, tmp_path: Path):
    """A symlink already on the local disk where the copy writes a file or a directory
    is replaced (after the user agreed to overwrite), never written through."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    d = fs.mkdir(ROOT_INO, "d", 0o755).ino
    put(fs, d, "passwd", b"from redis")
    etc = fs.mkdir(d, "etc", 0o755).ino
    put(fs, etc, "hosts", b"127.0.0.1 redis")
    out = tmp_path / "out"
    (out / "d").mkdir(parents=True)
    os.symlink(outside / "passwd", out / "d" / "passwd")  # file position
    os.symlink(outside, out / "d" / "etc")  # directory position

    plan = plan_remote(fs, fs.resolve("/d"), ROOT_INO, b"d", never)
    assert sorted(local_conflicts(plan, str(out))) == ["d/etc", "d/passwd"]
    with pytest.raises(FsError) as exc:  # not agreed: refused at the first one
        copy_out(fs, fs.resolve("/d"), "d", str(out), nothing, never)
    assert exc.value.errno == errno.EEXIST
    assert (outside / "passwd").read_text() == "root:x:0:0"

    result = copy_out(fs, fs.resolve("/d"), "d", str(out), nothing, never, overwrite=True)
    assert result.replaced == 2
    assert (outside / "passwd").read_text() == "root:x:0:0"
    assert sorted(os.listdir(outside)) == ["passwd"]
    assert not (out / "d" / "passwd").is_symlink()
    assert (out / "d" / "passwd").read_text() == "from redis"
    assert not (out / "d" / "etc").is_symlink()
    assert (out / "d" / "etc" / "hosts").read_text() == "127.0.0.1 redis"


def test_copy_out_overwrite_makes_a_new_file(fs: FileSystem, tmp_path: Path):
    """Replacing a local file never writes into its inode (a hard link elsewhere keeps
    its data)."""
    put(fs, ROOT_INO, "a.txt", b"new")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old")
    os.link(out / "a.txt", tmp_path / "other-name")
    copy_out(fs, fs.resolve("/a.txt"), "a.txt", str(out), nothing, never, overwrite=True)
    assert (out / "a.txt").read_text() == "new"
    assert (tmp_path / "other-name").read_text() == "old"


@pytest.mark.timeout(60)
def test_directory_loop_is_not_followed(client: redis.Redis, fs: FileSystem, tmp_path: Path):
    """A directory entry pointing back up (damage): copy out copies the tree once and
    reports the loop; delete tree refuses before deleting anything."""
    top = fs.mkdir(ROOT_INO, "top", 0o755).ino
    sub = fs.mkdir(top, "sub", 0o755).ino
    put(fs, sub, "f.txt", b"data")
    client.hset(fs.keys.dirents(sub), "back", top)
    out = tmp_path / "out"
    out.mkdir()

    result = copy_out(fs, fs.resolve("/top"), "top", str(out), nothing, never)
    assert result.loops == ["top/sub/back"] and "directory loops" in result.summary()
    assert files_under(out) == {"top", "top/sub", "top/sub/f.txt"}

    with pytest.raises(FsError) as exc:
        remove_tree(fs, ROOT_INO, b"top", nothing, never)
    assert exc.value.errno == errno.ELOOP and "fsck" in str(exc.value.strerror)
    assert fs.resolve("/top/sub/f.txt").size == 4  # nothing deleted


@pytest.mark.timeout(60)
def test_planning_honours_cancel(fs: FileSystem, tmp_path: Path):
    """Cancel is checked while the tree is walked, not only once copying starts."""
    top = fs.mkdir(ROOT_INO, "top", 0o755).ino
    for i in range(20):
        fs.mkdir(top, f"d{i:02d}", 0o755)
    calls: list[int] = []

    def cancel_after_three() -> bool:
        calls.append(1)
        return len(calls) > 3

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(TransferCancelled):
        copy_out(fs, fs.resolve("/top"), "top", str(out), nothing, cancel_after_three)
    assert len(calls) == 4 and os.listdir(out) == []  # stopped while planning
    calls.clear()
    with pytest.raises(TransferCancelled):
        remove_tree(fs, ROOT_INO, b"top", nothing, cancel_after_three)
    assert fs.count_entries(top) == 20


# -- the same through the app ------------------------------------------------------------
def test_app_asks_before_overwriting_and_reports_refused_names(
        redis_server, client: redis.Redis, fs: FileSystem, tmp_path: Path):
    d = fs.mkdir(ROOT_INO, "d", 0o755).ino
    put(fs, d, "a.txt", b"from redis")
    client.hset(fs.keys.dirents(d), "../escape.txt", put(fs, ROOT_INO, "x", b"x"))
    out = tmp_path / "out"
    (out / "d").mkdir(parents=True)
    (out / "d" / "a.txt").write_text("local work")
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def copy_out_to(pilot: Pilot, dest: Path) -> None:
        app.browser.entry_list.select_name("d")
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form")
        app.screen.query_one(Input).value = str(dest)
        await pilot.press("enter")

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: [e.name for e in app.browser.entry_list.shown][:1]
                       == ["d"], what="listing")
        await copy_out_to(pilot, out)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="overwrite?")
        body = text_of(app.screen.query_one(".dialog-body", Static))
        assert "d/a.txt" in body and "Replace" in body
        await pilot.press("n")
        await wait_for(pilot, lambda: any("nothing was overwritten" in n
                                          for n in notifications(app)))
        await wait_for(pilot, lambda: not app.job_bar.busy)
        assert (out / "d" / "a.txt").read_text() == "local work"

        await copy_out_to(pilot, out)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="overwrite?")
        await pilot.press("y")
        await wait_for(pilot, lambda: any(n.startswith("Copied to") for n in notifications(app)))
        assert (out / "d" / "a.txt").read_text() == "from redis"
        done = next(n for n in notifications(app) if n.startswith("Copied to"))
        assert "1 unsafe names refused" in done and "../escape.txt" in done
        assert "1 existing files replaced" in done
        assert not (tmp_path / "escape.txt").exists()

    run(app, scenario)


@pytest.mark.timeout(60)
def test_app_delete_tree_with_a_loop_is_refused(redis_server, client: redis.Redis,
                                                 fs: FileSystem):
    top = fs.mkdir(ROOT_INO, "top", 0o755).ino
    sub = fs.mkdir(top, "sub", 0o755).ino
    client.hset(fs.keys.dirents(sub), "back", top)
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: [e.name for e in app.browser.entry_list.shown]
                       == ["top"], what="listing")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("directory loop at top/sub/back" in n
                                          for n in notifications(app)), what="refusal")
        await wait_for(pilot, lambda: not app.job_bar.busy)
        assert fs.resolve("/top/sub").ino == sub

    run(app, scenario)
