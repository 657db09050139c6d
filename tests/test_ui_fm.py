"""Pilot tests of the browser's file-manager basics against a real redis-server:
multi-select with bulk delete and copy out, copy and move inside the filesystem."""

from __future__ import annotations

from pathlib import Path

import redis
from helpers_ui import fill_form, make_app, notifications, put, run, settle, text_of, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, Label, OptionList, Static

from redisfs_tui.core import ROOT_INO, FileSystem, FsError
from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal


def names(app) -> list[str]:
    return [e.name for e in app.browser.entry_list.shown]


def status(app) -> str:
    return text_of(app.query_one("#browser-status", Static))


def exists(fs: FileSystem, path: str) -> bool:
    try:
        fs.resolve(path)
    except FsError:
        return False
    return True



async def form_back(pilot: Pilot, value: str, *words: str) -> None:
    """The form is (again) on screen with ``value`` typed and an error holding ``words``."""
    app = pilot.app

    def shown() -> bool:
        if not isinstance(app.screen, FormModal):
            return False
        error = str(app.screen.query_one("#form-error", Label).content)
        return app.screen.query_one(Input).value == value and all(w in error for w in words)

    await wait_for(pilot, shown, what=f"form with {value!r} and {words}")


def test_multi_select_bulk_delete_and_copy_out(redis_server, client: redis.Redis,
                                               fs: FileSystem, tmp_path: Path):
    d = fs.mkdir(ROOT_INO, "d", 0o755).ino
    put(fs, d, "inner.txt", b"inner")
    for name in ("a.txt", "b.txt", "c.txt"):
        put(fs, ROOT_INO, name, name.encode())
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: names(app) == ["d", "a.txt", "b.txt", "c.txt"])
        ids = {b.binding.id for b in app.active_bindings.values() if b.binding.show}
        assert {"list.select", "list.select-all"} <= ids  # shown in the footer
        await pilot.press("space")  # marks d, moves to a.txt
        assert app.browser.entry_list.current.name == "a.txt"
        await pilot.press("j", "space")  # b.txt
        await wait_for(pilot, lambda: "2 selected" in status(app), what="2 selected")
        await pilot.press("escape")  # clears the selection
        await wait_for(pilot, lambda: "selected" not in status(app), what="none selected")
        await pilot.press("home", "space", "j", "space")  # d and b.txt again
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        body = text_of(app.screen.query_one(".dialog-body", Static))
        assert "Delete 2 selected entries" in body and "d/, b.txt" in body
        assert "1 of them directories" in body
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Deleted 2 of 2 entries" in n
                                          for n in notifications(app)), what="bulk delete")
        await wait_for(pilot, lambda: names(app) == ["a.txt", "c.txt"], what="reload")
        assert not exists(fs, "/d") and not exists(fs, "/b.txt")
        await wait_for(pilot, lambda: "selected" not in status(app), what="none selected")

        await pilot.press("asterisk")  # everything shown
        await wait_for(pilot, lambda: "2 selected" in status(app), what="2 selected")
        await pilot.press("o")
        await fill_form(pilot, str(tmp_path))
        await wait_for(pilot, lambda: any(n.startswith("Copied to") for n in notifications(app)),
                       what="bulk copy out")
        done = next(n for n in notifications(app) if n.startswith("Copied to"))
        assert "2 entries" in done and "2 files" in done
        assert (tmp_path / "a.txt").read_bytes() == b"a.txt"
        assert (tmp_path / "c.txt").read_bytes() == b"c.txt"
        await pilot.press("asterisk")  # all were selected: * clears
        await wait_for(pilot, lambda: "selected" not in status(app), what="none selected")
        await settle(pilot)

    run(app, scenario)


def test_rename_with_a_path_moves_and_move_key_moves_the_selection(
        redis_server, client: redis.Redis, fs: FileSystem):
    sub = fs.mkdir(ROOT_INO, "sub", 0o755).ino
    inner = fs.mkdir(sub, "inner", 0o755).ino
    for name in ("a.txt", "b.txt", "c.txt"):
        put(fs, ROOT_INO, name, name.encode())
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        lst = app.browser.entry_list
        await wait_for(pilot, lambda: names(app) == ["sub", "a.txt", "b.txt", "c.txt"])
        # the rename dialog's '/' hint: into an existing directory, keeping the name
        lst.select_name("a.txt")
        await pilot.press("r")
        await fill_form(pilot, "sub/")
        await wait_for(pilot, lambda: names(app) == ["sub", "b.txt", "c.txt"], what="moved")
        assert fs.resolve("/sub/a.txt").size == 5
        # ... and to a new name in another directory, by absolute path
        lst.select_name("b.txt")
        await pilot.press("r")
        await fill_form(pilot, "/sub/inner/b2.txt")
        await wait_for(pilot, lambda: names(app) == ["sub", "c.txt"], what="moved again")
        assert fs.lookup(inner, "b2.txt").size == 5
        await wait_for(pilot, lambda: any("Moved b.txt to /sub/inner/b2.txt" in n
                                          for n in notifications(app)), what="moved toast")
        # a plain name is still checked as a name (the form stays open)
        lst.select_name("c.txt")
        await pilot.press("r")
        await fill_form(pilot, "..")
        await wait_for(pilot, lambda: "invalid name" in str(
            app.screen.query_one("#form-error", Label).content), what="form error")
        await pilot.press("escape")
        # a missing directory is an error naming the path; nothing moves, and the form
        # comes back with the input and the error
        await pilot.press("r")
        await fill_form(pilot, "nowhere/x")
        await wait_for(pilot, lambda: any("/nowhere" in n and "No such file" in n
                                          for n in notifications(app)), what="refusal")
        await form_back(pilot, "nowhere/x", "/nowhere", "No such file")
        await pilot.press("escape")
        assert exists(fs, "/c.txt")
        # a name that exists: refused (never replaced), the rename form comes back
        put(fs, ROOT_INO, "taken.txt", b"t")
        await pilot.press("r")
        await fill_form(pilot, "taken.txt")
        await form_back(pilot, "taken.txt", "taken.txt", "exists")
        await pilot.press("escape")
        assert fs.resolve("/c.txt").size == 5 and fs.resolve("/taken.txt").size == 1
        fs.unlink(ROOT_INO, "taken.txt")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: names(app) == ["sub", "c.txt"], what="reloaded")
        # M moves the selection; a directory below itself is refused by name
        await pilot.press("home", "space", "space")  # sub and c.txt
        await pilot.press("M")
        await fill_form(pilot, "/sub/inner")
        await wait_for(pilot, lambda: any("cannot move a directory into itself" in n
                                          for n in notifications(app)), what="loop refusal")
        note = next(n for n in notifications(app) if "into itself" in n)
        assert note.startswith("Moved 1 of 2 entries to /sub/inner") and "sub:" in note
        assert fs.lookup(inner, "c.txt").ino and exists(fs, "/sub/inner")
        # nothing moved at all: the form comes back saying why
        await pilot.press("home")
        await pilot.press("M")
        await fill_form(pilot, "/sub/inner")
        await form_back(pilot, "/sub/inner", "Nothing moved", "into itself")
        await pilot.press("escape")
        await settle(pilot)

    run(app, scenario)


def test_copy_within_keeps_data_holes_links_and_refuses_itself(
        redis_server, client: redis.Redis, fs: FileSystem):
    src = fs.mkdir(ROOT_INO, "src", 0o750).ino
    big = bytes(range(256)) * 40_000  # 10 MB: more than one chunk
    f = put(fs, src, "big.bin", big)
    sparse = put(fs, src, "sparse", b"end")
    fs.truncate(sparse, 0)
    fs.write(sparse, 20_000_000, b"end")  # a hole first
    fs.link(f, src, "big-link")
    fs.symlink(src, "ln", "big.bin")
    fs.utimens(f, 1_000_000_000, 2_000_000_000)
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: names(app) == ["src"])
        await pilot.press("C")
        await fill_form(pilot, "/copy")
        await wait_for(pilot, lambda: any(n.startswith("Copied to /copy") for n in
                                          notifications(app)), what="copy")
        await wait_for(pilot, lambda: not app.job_bar.busy)
        copy = fs.resolve("/copy")
        assert copy.ino != src and copy.mode & 0o777 == 0o750
        new = fs.resolve("/copy/big.bin")
        assert new.ino != f and bytes(fs.read(new.ino, 0, new.size)) == big
        assert new.mtime_ns == 2_000_000_000
        assert fs.resolve("/copy/big-link").ino == new.ino and new.nlink == 2
        assert fs.readlink(fs.resolve("/copy/ln").ino) == b"big.bin"
        hole = fs.resolve("/copy/sparse")
        assert hole.size == 20_000_003 and bytes(fs.read(hole.ino, 20_000_000, 3)) == b"end"
        assert len(fs.block_infos(hole.ino)) == len(fs.block_infos(sparse))  # hole kept
        # into itself: refused before anything is written
        app.browser.entry_list.select_name("src")
        await pilot.press("C")
        await fill_form(pilot, "src/inside")
        await wait_for(pilot, lambda: any("cannot copy src into itself" in n
                                          for n in notifications(app)), what="refusal")
        await form_back(pilot, "src/inside", "cannot copy src into itself")
        await pilot.press("escape")
        assert not exists(fs, "/src/inside")
        # an existing name is never replaced (a directory receives the entry by its name)
        await pilot.press("C")
        await fill_form(pilot, "/")
        await wait_for(pilot, lambda: any("/src already exists" in n
                                          for n in notifications(app)), what="exists")
        await form_back(pilot, "/", "/src already exists")
        await pilot.press("escape")
        await settle(pilot)

    run(app, scenario)


def test_copy_within_a_loop_is_finite_and_cancel_stops(client: redis.Redis, fs: FileSystem):
    from redisfs_tui.ui.remote_copy import Source, copy, destination
    from redisfs_tui.ui.transfer import TransferCancelled

    top = fs.mkdir(ROOT_INO, "top", 0o755).ino
    sub = fs.mkdir(top, "sub", 0o755).ino
    put(fs, sub, "f", b"x" * 100)
    client.hset(fs.keys.dirents(sub), "back", top)  # damage: a directory loop
    dest_dir = fs.mkdir(ROOT_INO, "out", 0o755).ino
    dest = destination(fs, "/", "out", many=False)
    assert dest.dir_ino == dest_dir and dest.name is None
    result = copy(fs, [Source(ROOT_INO, b"top", fs.resolve("/top"))], dest,
                  lambda *a: None, lambda: False)
    assert result.loops == ["top/sub/back"] and result.dirs == 2 and result.files == 1
    assert not exists(fs, "/out/top/sub/back")

    calls = []

    def cancel_soon() -> bool:
        calls.append(1)
        return len(calls) > 3

    try:
        copy(fs, [Source(ROOT_INO, b"top", fs.resolve("/top"))],
             destination(fs, "/", "/again", many=False), lambda *a: None, cancel_soon)
    except TransferCancelled:
        pass
    else:
        raise AssertionError("cancel was not honoured")


def script(path: Path, body: str, shebang: str = "/bin/sh") -> str:
    path.write_text(f"#!{shebang}\n{body}")
    path.chmod(0o755)
    return str(path)


def test_pager_sees_the_whole_file_and_editor_writes_back_only_changes(
        redis_server, client: redis.Redis, fs: FileSystem, tmp_path: Path, monkeypatch):
    big = b"".join(b"line %06d\n" % i for i in range(30_000))  # 330 KB, far over 64 KiB
    ino = put(fs, ROOT_INO, "big.txt", big)
    put(fs, ROOT_INO, "notes.txt", b"first\n")
    seen = tmp_path / "seen"
    monkeypatch.setenv("PAGER", script(tmp_path / "pager", f'cp "$1" {seen}\n'))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "true")  # exits at once, changes nothing
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        lst = app.browser.entry_list
        await wait_for(pilot, lambda: names(app) == ["big.txt", "notes.txt"])
        await pilot.press("p")
        await wait_for(pilot, seen.exists, what="pager")
        await wait_for(pilot, lambda: not app.job_bar.busy)
        assert seen.read_bytes() == big
        before = fs.getattr(ino)
        await pilot.press("e")
        await wait_for(pilot, lambda: any("No changes to /big.txt" in n
                                          for n in notifications(app)), what="no change")
        assert fs.getattr(ino).mtime_ns == before.mtime_ns  # not written back

        monkeypatch.setenv("EDITOR", script(tmp_path / "ed", "printf 'second\\n' >> \"$1\"\n"))
        lst.select_name("notes.txt")
        await pilot.press("e")
        await wait_for(pilot, lambda: any("Saved /notes.txt" in n for n in notifications(app)),
                       what="saved")
        notes = fs.resolve("/notes.txt")
        assert bytes(fs.read(notes.ino, 0, notes.size)) == b"first\nsecond\n"
        await settle(pilot)

    run(app, scenario)


def test_editor_refuses_to_overwrite_a_file_changed_in_redis(
        redis_server, client: redis.Redis, fs: FileSystem, tmp_path: Path, monkeypatch):
    import sys

    ino = put(fs, ROOT_INO, "shared.txt", b"original\n")
    # the "editor" edits its copy and, meanwhile, another client writes the file in Redis
    body = (f"import sys, redis\n"
            f"from redisfs_tui.core import FileSystem\n"
            f"open(sys.argv[1], 'a').write('mine\\n')\n"
            f"fs = FileSystem(redis.Redis.from_url({redis_server.url!r}), {fs.prefix!r})\n"
            f"fs.write({ino}, 0, b'THEIRS')\n")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", script(tmp_path / "ed.py", body, sys.executable))
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: names(app) == ["shared.txt"])
        await pilot.press("e")
        await wait_for(pilot, lambda: any("Not saved: /shared.txt" in n
                                          for n in notifications(app)), what="refusal")
        note = next(n for n in notifications(app) if "Not saved" in n)
        assert "changed in Redis" in note
        kept = note.split("kept in ")[1].strip()
        assert Path(kept).read_text() == "original\nmine\n"  # the user's edit survives
        assert bytes(fs.read(ino, 0, 100)) == b"THEIRSal\n"  # the other client's write stays
        Path(kept).unlink()
        Path(kept).parent.rmdir()

    run(app, scenario)


def test_find_by_name_across_the_tree_and_go_to_a_path(redis_server, client: redis.Redis,
                                                        fs: FileSystem):
    from redisfs_tui.core.search import find_names
    from redisfs_tui.ui.find_screen import FindScreen

    a = fs.mkdir(ROOT_INO, "alpha", 0o755).ino
    b = fs.mkdir(a, "beta", 0o755).ino
    put(fs, b, "Report-2024.txt", b"x")
    put(fs, ROOT_INO, "report.md", b"y")
    put(fs, a, "other", b"z")
    put(fs, a, "star*[x]", b"w")
    for i in range(1500):  # more than one page of names that do not match
        client.hset(fs.keys.dirents(a), f"noise{i}", fs.resolve("/alpha/other").ino)
    gone = fs.mkdir(ROOT_INO, "gone", 0o755).ino  # an unreachable directory is skipped
    put(fs, gone, "report-orphan", b"o")
    client.hdel(fs.keys.dirents(ROOT_INO), "gone")
    # server-side: one page per SCAN step, case-insensitive, glob characters literal
    hits = [f.path for page in find_names(fs, "REPORT", page_size=10) for f in page]
    assert sorted(hits) == ["/alpha/beta/Report-2024.txt", "/report.md"]
    assert [f.path for page in find_names(fs, "*[x") for f in page] == ["/alpha/star*[x]"]
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: "report.md" in names(app))
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FindScreen))
        await pilot.press(*"report", "enter")
        await wait_for(pilot, lambda: len(app.screen.found) == 2, what="results")
        status = text_of(app.screen.query_one("#find-status", Static))
        await wait_for(pilot, lambda: "2 names containing 'report'" in text_of(
            app.screen.query_one("#find-status", Static)), what=f"status ({status})")
        # results come in SCAN order, which differs from run to run
        paths = [f.path for f in app.screen.found]
        app.screen.query_one(OptionList).highlighted = paths.index("/alpha/beta/Report-2024.txt")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.browser.path == "/alpha/beta" and names(app),
                       what="jump")
        assert app.browser.entry_list.current.name == "Report-2024.txt"

        await pilot.press("ctrl+g")  # go to path
        await fill_form(pilot, "/alpha/other")
        await wait_for(pilot, lambda: app.browser.path == "/alpha" and names(app))
        await wait_for(pilot, lambda: app.browser.entry_list.current.name == "other")
        await pilot.press("colon")  # go to path
        await fill_form(pilot, "beta")  # relative to /alpha
        await wait_for(pilot, lambda: app.browser.path == "/alpha/beta" and names(app))
        # a name that only arrives with the last page of a big directory is still selected
        pages = list(fs.readdir(a, page_size=1000))
        assert len(pages) > 1
        late = pages[-1][-1][0].decode()
        await pilot.press("ctrl+g")  # go to path
        await fill_form(pilot, f"/alpha/{late}")
        await wait_for(pilot, lambda: app.browser.path == "/alpha"
                       and not app.browser.entry_list.is_loading, what="big listing")
        await wait_for(pilot, lambda: app.browser.entry_list.current.name == late,
                       what=f"{late} selected")
        await pilot.press("colon")  # go to path
        await fill_form(pilot, "/nope")
        await wait_for(pilot, lambda: any("/nope" in n for n in notifications(app)),
                       what="error naming the path")
        await form_back(pilot, "/nope", "/nope", "No such file")  # and the form again
        await pilot.press("escape")
        assert app.browser.path == "/alpha"  # unchanged by the error
        await settle(pilot)

    run(app, scenario)


def test_names_sort_naturally(redis_server, client: redis.Redis, fs: FileSystem):
    for name in ("file10", "file2", "File1", "file01b", "x", "10", "9", "file2a"):
        put(fs, ROOT_INO, name, b"")
    fs.mkdir(ROOT_INO, "dir10", 0o755)
    fs.mkdir(ROOT_INO, "dir9", 0o755)
    app = make_app(redis_server.url, client, prefix=fs.prefix)
    want = ["dir9", "dir10", "9", "10", "File1", "file01b", "file2", "file2a", "file10", "x"]

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: len(names(app)) == 10)
        assert names(app) == want
        await pilot.press("S")  # reversed: still directories first
        assert names(app) == want[:2][::-1] + want[2:][::-1]

    run(app, scenario)


def test_du_counts_a_tree_once_with_progress_and_cancel(redis_server, client: redis.Redis,
                                                        fs: FileSystem):
    from redisfs_tui.ui.transfer import TransferCancelled
    from redisfs_tui.ui.usage import disk_usage

    top = fs.mkdir(ROOT_INO, "top", 0o755).ino
    sub = fs.mkdir(top, "sub", 0o755).ino
    f = put(fs, top, "a", b"x" * 1000)
    fs.link(f, sub, "a-again")  # one file, two names: counted once
    put(fs, sub, "b", b"y" * 234)
    sparse = put(fs, sub, "sparse", b"")
    fs.truncate(sparse, 10_000_000)  # apparent size
    fs.symlink(sub, "ln", "a")
    client.hset(fs.keys.dirents(sub), "back", top)  # damage: a loop, not followed
    heard = []
    usage = disk_usage(fs, fs.resolve("/top"), "top", lambda: False,
                       lambda u, where: heard.append((u.entries, where)))
    assert (usage.bytes, usage.files, usage.dirs, usage.others) == (10_001_234, 3, 2, 1)
    assert usage.loops == ["top/sub/back"] and heard
    try:
        disk_usage(fs, fs.resolve("/top"), "top", lambda: True, lambda u, w: None)
    except TransferCancelled:
        pass
    else:
        raise AssertionError("cancel was not honoured")
    app = make_app(redis_server.url, client, prefix=fs.prefix)

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: names(app) == ["top"])
        await pilot.press("u")
        await wait_for(pilot, lambda: any(n.startswith("/top: 9.5 MiB") for n in
                                          notifications(app)), what=str(notifications(app)))
        note = next(n for n in notifications(app) if n.startswith("/top:"))
        assert "(10,001,234 bytes) in 3 files, 2 directories, 1 other" in note
        assert "1 directory loops not followed" in note
        await wait_for(pilot, lambda: not app.job_bar.busy)

    run(app, scenario)


def test_palette_offers_the_file_manager_actions(redis_server, client: redis.Redis,
                                                 fs: FileSystem):
    from redisfs_tui.ui.commands import COMMANDS
    from redisfs_tui.ui.find_screen import FindScreen

    put(fs, ROOT_INO, "a", b"")
    put(fs, ROOT_INO, "b", b"")
    app = make_app(redis_server.url, client, prefix=fs.prefix)
    wanted = {"select_all", "copy_within", "move", "view", "edit", "find", "goto", "usage"}

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: names(app) == ["a", "b"])
        actions = {c.action for c in COMMANDS if c.tab == "browser"}
        assert wanted <= actions
        for action in wanted:
            assert hasattr(app.browser, f"action_{action}")
        app.run_command("browser", "select_all")
        await wait_for(pilot, lambda: "2 selected" in status(app), what="2 selected")
        app.run_command("browser", "find")
        await wait_for(pilot, lambda: isinstance(app.screen, FindScreen))
        await pilot.press("escape")

    run(app, scenario)
