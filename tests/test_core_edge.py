"""Edge cases: names, bad superblocks, huge directories, read-only users, bad servers."""

from __future__ import annotations

import errno
import os
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from helpers_invariants import assert_consistent, fails, stored_key

from redisfs_tui.core import (
    ROOT_INO,
    FileSystem,
    FsError,
    NoSuchFilesystem,
    ServerSpec,
    UnsupportedFormat,
    connect,
)
from redisfs_tui.core.inspect import inode_report
from redisfs_tui.core.local_server import LocalRedis, free_port


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[callable]:
    """Start extra redis-servers with special settings; all stopped at teardown."""
    started: list[LocalRedis] = []

    def start(*extra: str) -> LocalRedis:
        server = LocalRedis(tmp_path / f"r{len(started)}", extra_args=list(extra))
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


# -- names -----------------------------------------------------------------------------------
GOOD_NAMES = [
    "with space", " lead and trail ", "new\nline", "tab\there", "ünïcødé ✓ 日本語",
    "x" * 255, "é" * 127 + "a",  # exactly 255 bytes, multi-byte
    b"\xff\xfe raw bytes", "surrogate\udcff", "-dash", "...", ".hidden", "a\\b", "*?[]",
]


@pytest.mark.parametrize("name", GOOD_NAMES, ids=range(len(GOOD_NAMES)))
def test_unusual_names_round_trip(fs: FileSystem, name: str | bytes) -> None:
    raw = os.fsencode(name)
    assert len(raw) <= 255
    f = fs.create(ROOT_INO, name, 0o644, open_handle=False)
    fs.write(f.ino, 0, raw)
    assert fs.lookup(ROOT_INO, raw).ino == f.ino
    assert fs.lookup(ROOT_INO, name).ino == f.ino
    assert [n for page in fs.readdir(ROOT_INO) for n, _ in page] == [raw]
    assert fs.resolve(b"/" + raw).ino == f.ino
    d = fs.mkdir(ROOT_INO, b"dir " + raw[:200])
    fs.rename(ROOT_INO, name, d.ino, name)
    fs.link(f.ino, ROOT_INO, raw)
    assert fs.getattr(f.ino).nlink == 2
    assert fs.read(fs.resolve(b"/dir " + raw[:200] + b"/" + raw).ino, 0, 300) == raw
    fs.symlink(ROOT_INO, b"l" + raw[:254], raw)
    assert fs.readlink(fs.lookup(ROOT_INO, b"l" + raw[:254]).ino) == raw
    fs.unlink(ROOT_INO, name)
    fs.unlink(d.ino, raw)
    fails(errno.ENOENT, fs.getattr, f.ino)
    assert_consistent(fs)


def test_bad_names_are_refused_by_every_operation(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT_INO, "d")
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False)
    ops = [
        lambda n: fs.lookup(ROOT_INO, n),
        lambda n: fs.mknod(ROOT_INO, n, 0o644),
        lambda n: fs.create(ROOT_INO, n, 0o644),
        lambda n: fs.mkdir(ROOT_INO, n),
        lambda n: fs.symlink(ROOT_INO, n, "t"),
        lambda n: fs.link(f.ino, ROOT_INO, n),
        lambda n: fs.unlink(ROOT_INO, n),
        lambda n: fs.rmdir(ROOT_INO, n),
        lambda n: fs.rename(ROOT_INO, "f", ROOT_INO, n),
        lambda n: fs.rename(ROOT_INO, n, d.ino, "x"),
    ]
    cases = [("x" * 256, errno.ENAMETOOLONG), ("é" * 128, errno.ENAMETOOLONG),
             (".", errno.EINVAL), ("..", errno.EINVAL), ("a/b", errno.EINVAL),
             ("", errno.EINVAL), ("nul\0byte", errno.EINVAL), (b"/", errno.EINVAL)]
    for name, code in cases:
        for op in ops:
            with pytest.raises(FsError) as info:
                op(name)
            assert info.value.errno == code, (name, info.value)
    before = fs.superblock()
    assert before["inodes"] == "3" and fs.count_entries(ROOT_INO) == 2
    assert fs.getattr(f.ino).nlink == 1
    assert_consistent(fs)


# -- creating and opening filesystems ---------------------------------------------------------
def test_mkfs_twice_and_bad_arguments(client: redis.Redis, prefix: str) -> None:
    first = FileSystem.mkfs(client, prefix)
    first.mkdir(ROOT_INO, "keep")
    fails(errno.EEXIST, FileSystem.mkfs, client, prefix)
    again = FileSystem(client, prefix)
    assert again.uuid == first.uuid and again.lookup(ROOT_INO, "keep").is_dir
    fails(errno.EINVAL, FileSystem.mkfs, client, prefix + "c", codec="lz4")
    for size in (0, 1000, 2048, 4097, 8 * 1024 * 1024):
        fails(errno.EINVAL, FileSystem.mkfs, client, prefix + "b", block_size=size)
    assert not client.exists("{" + prefix + "b}:sb", "{" + prefix + "c}:sb")
    for bad in ("", "a:b", "{x}", "a b", "x" * 65, "ü"):
        with pytest.raises(ValueError, match="invalid prefix"):
            FileSystem.mkfs(client, bad)
    fs = FileSystem.mkfs(client, prefix + "s", block_size=4096, codec="raw", uid=12, gid=34)
    assert (fs.block_size, fs.codec) == (4096, "raw")
    assert (fs.getattr(ROOT_INO).uid, fs.getattr(ROOT_INO).gid) == (12, 34)


def test_opening_missing_or_unsupported_filesystem(client: redis.Redis, prefix: str) -> None:
    with pytest.raises(NoSuchFilesystem) as info:
        FileSystem(client, prefix)
    assert info.value.errno == errno.ENOENT and prefix in str(info.value)
    assert isinstance(info.value, FsError)
    fs = FileSystem.mkfs(client, prefix)
    client.hset(fs.keys.superblock, "format_version", 99)
    with pytest.raises(UnsupportedFormat) as unsupported:
        FileSystem(client, prefix)
    assert isinstance(unsupported.value, FsError) and "99" in str(unsupported.value)
    with pytest.raises(UnsupportedFormat):
        FileSystem(client, prefix, read_only=True)


@pytest.mark.parametrize("field,value", [("format_version", "abc"), ("format_version", None),
                                         ("block_size", "x"), ("block_size", None),
                                         ("block_size", "0"), ("codec", b"\xff")])
def test_damaged_superblock_is_a_clean_error(client: redis.Redis, prefix: str,
                                             field: str, value: str | None) -> None:
    fs = FileSystem.mkfs(client, prefix)
    if value is None:
        client.hdel(fs.keys.superblock, field)
    else:
        client.hset(fs.keys.superblock, field, value)
    if field == "codec":  # an unknown codec name still opens; blocks carry their own codec
        assert FileSystem(client, prefix).getattr(ROOT_INO).is_dir
        return
    with pytest.raises(FsError) as info:
        FileSystem(client, prefix)
    assert info.value.errno in (errno.EUCLEAN, errno.EPROTONOSUPPORT)


@pytest.mark.parametrize("stored", [b"Sgarbage", b"Zgarbage", b"Qunknown codec",
                                    b"Z" + zlib.compress(b"x" * 300_000)])
def test_damaged_block_is_euclean_and_shown_as_such(fs: FileSystem, stored: bytes) -> None:
    """Hostile block contents: reads fail with EUCLEAN (as ext4 reports corruption), never
    with a traceback or a decompression bomb; the inspector marks the block damaged."""
    f = fs.create(ROOT_INO, "victim", 0o644)
    fs.write(f.ino, 0, b"fine" * 1000)
    fs.client.set(stored_key(fs, f.ino, 0), stored)
    with pytest.raises(FsError) as info:
        fs.read(f.ino, 0, 100)
    assert info.value.errno == errno.EUCLEAN and "damaged block" in info.value.strerror
    assert [b.raw_bytes for b in inode_report(fs, f.ino).blocks] == [-1]
    assert [b.raw_bytes for b in fs.block_infos(f.ino)] == [-1]


# -- a huge directory ---------------------------------------------------------------------------
BIG_DIR = 100_000


def test_readdir_pages_a_huge_directory(private_redis) -> None:
    """100k entries, made by the real mknode script (pipelined, so this takes ~3 s).

    A private server, so the 100k keys do not slow every later SCAN of other tests.
    """
    fs = FileSystem.mkfs(redis.Redis.from_url(private_redis().url), "big")
    d = fs.mkdir(ROOT_INO, "big").ino
    script, now = fs._s.mknode, str(time.time_ns())
    pipe = fs.client.pipeline(transaction=False)
    for i in range(BIG_DIR):
        script(keys=[fs.keys.superblock],
               args=[fs.keys.base, d, f"entry-{i:06d}", 0o100644, 0, 0, 0, b"", now, ""],
               client=pipe)
        if i % 10_000 == 9_999:
            assert all(isinstance(r, int) for r in pipe.execute())
    pipe.execute()
    assert fs.count_entries(d) == BIG_DIR

    started = time.monotonic()
    pages = list(fs.readdir(d, page_size=1000))
    elapsed = time.monotonic() - started
    names = [name for page in pages for name, _ in page]
    assert len(names) == BIG_DIR
    assert set(names) == {f"entry-{i:06d}".encode() for i in range(BIG_DIR)}
    assert max(len(page) for page in pages) <= 2000, "a page was not bounded"
    assert len(pages) >= BIG_DIR // 2000
    inos = [ino for page in pages for _, ino in page]
    assert len(set(inos)) == BIG_DIR
    assert elapsed < 10

    small_pages = fs.readdir(d, page_size=50)
    first = [next(small_pages) for _ in range(5)]
    assert all(0 < len(page) <= 100 for page in first)
    plus = next(fs.readdir_plus(d, page_size=500))
    assert 0 < len(plus) <= 1000 and all(a.is_reg and a.parent == d for _, a in plus)
    assert int(fs.superblock()["inodes"]) == BIG_DIR + 2
    assert fs.getattr(d).nlink == 2


def test_dropping_a_huge_sparse_file_is_cheap(private_redis) -> None:
    fs = FileSystem.mkfs(redis.Redis.from_url(private_redis().url), "sparse", block_size=4096)
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    fs.truncate(f, 1 << 32)  # a 4 GiB hole: nothing stored, 1M block indices
    assert fs.superblock()["stored_bytes"] == "0"
    started = time.monotonic()
    fs.unlink(ROOT_INO, "f")
    assert time.monotonic() - started < 0.25


# -- read-only -------------------------------------------------------------------------------
def _populate(fs: FileSystem) -> dict[str, int]:
    d = fs.mkdir(ROOT_INO, "dir")
    f = fs.create(d.ino, "file", 0o644, open_handle=False)
    fs.write(f.ino, 0, b"data " * 50_000)
    fs.setxattr(f.ino, "user.k", b"v")
    s = fs.symlink(ROOT_INO, "link", "dir/file")
    fs.link(f.ino, ROOT_INO, "hard")
    return {"dir": d.ino, "file": f.ino, "link": s.ino}


def _mutators(fs: FileSystem, inos: dict[str, int]) -> list:
    d, f = inos["dir"], inos["file"]
    return [
        lambda: fs.mknod(ROOT_INO, "n", 0o644), lambda: fs.create(ROOT_INO, "n", 0o644),
        lambda: fs.mkdir(ROOT_INO, "n"), lambda: fs.symlink(ROOT_INO, "n", "t"),
        lambda: fs.link(f, ROOT_INO, "n"), lambda: fs.unlink(d, "file"),
        lambda: fs.rmdir(ROOT_INO, "dir"), lambda: fs.rename(ROOT_INO, "hard", ROOT_INO, "n"),
        lambda: fs.chmod(f, 0o600), lambda: fs.chown(f, 1, 1), lambda: fs.utimens(f, 1, 1),
        lambda: fs.truncate(f, 0), lambda: fs.write(f, 0, b"x"),
        lambda: fs.open(f, truncate=True), lambda: fs.setxattr(f, "user.n", b""),
        lambda: fs.removexattr(f, "user.k"), lambda: fs.reap_session("someone"),
    ]


def _readers(fs: FileSystem, inos: dict[str, int]) -> dict[str, object]:
    d, f, s = inos["dir"], inos["file"], inos["link"]
    return {
        "getattr": fs.getattr(f).size, "getattrs": len(fs.getattrs([d, f, s])),
        "lookup": fs.lookup(d, "file").ino, "resolve": fs.resolve("/dir/file").ino,
        "missing": _errno(lambda: fs.resolve("/dir/none")),
        "notdir": _errno(lambda: fs.resolve("/dir/file/x")), "whole": fs.read(f, 0, 1 << 20),
        "readlink": fs.readlink(s),
        "readdir": sorted(n for p in fs.readdir(ROOT_INO) for n, _ in p),
        "readdir_plus": sorted(n for p in fs.readdir_plus(d) for n, _ in p),
        "count": fs.count_entries(ROOT_INO), "read": fs.read(f, 249_990, 100),
        "getxattr": fs.getxattr(f, "user.k"), "listxattr": fs.listxattr(f),
        "statfs": fs.statfs()["f_namemax"], "superblock": fs.superblock()["inodes"],
        "blocks": len(fs.block_infos(f)), "open": fs.open(f).ino, "release": fs.release(f),
    }


def _errno(func) -> int:
    try:
        func()
    except FsError as exc:
        return exc.errno
    return 0


def _command_flags(admin: redis.Redis, names: set[str]) -> dict[str, set[str]]:
    """The server's own flags for each command (e.g. 'write', 'readonly')."""
    info = admin.execute_command("COMMAND", "INFO", *sorted(names))
    assert set(info) == names, f"unknown commands: {names - set(info)}"
    return {name: {str(f) for f in entry["flags"]} for name, entry in info.items()}


def test_read_only_user_never_sends_a_write(private_redis) -> None:
    server = private_redis()
    admin = redis.Redis.from_url(server.url)
    writer = FileSystem.mkfs(admin, "ro")
    inos = _populate(writer)
    expected = _readers(writer, inos)
    # A read-only instance needs @read and nothing else: no scripts (resolve walks the
    # path), no MULTI/EXEC (read() checks the inode before and after), no INFO (statfs).
    admin.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "~*", "resetchannels",
                          "-@all", "+@read", "+@connection")
    reader = connect(ServerSpec.from_parts(url=server.url, username="reader", password="pw"))
    # the ACL really forbids writes: a writable instance gets EACCES, not silence
    fails(errno.EACCES, FileSystem(reader, "ro").mkdir, ROOT_INO, "nope")
    admin.execute_command("ACL", "LOG", "RESET")
    admin.config_resetstat()

    monitor_conn = redis.Redis.from_url(server.url)
    seen: list[dict] = []
    with monitor_conn.monitor() as monitor:
        def listen() -> None:
            while True:
                cmd = monitor.next_command()
                seen.append(cmd)
                if cmd["command"].startswith("ECHO end-of-test"):
                    return

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        rofs = FileSystem(reader, "ro", read_only=True)
        assert _readers(rofs, inos) == expected
        admin.echo("begin-mutators")
        for mutate in _mutators(rofs, inos):
            fails(errno.EROFS, mutate)
        admin.echo("end-mutators")
        assert _readers(rofs, inos) == expected
        admin.echo("end-of-test")
        thread.join(10)
    assert not thread.is_alive()

    commands = [c["command"] for c in seen]
    lo = commands.index("ECHO begin-mutators")
    hi = commands.index("ECHO end-mutators")
    assert hi == lo + 1, f"read-only mutators sent: {commands[lo + 1:hi]}"
    names = {c.split(" ", 1)[0].lower() for c in commands}
    flags = _command_flags(admin, names)
    writes = {n for n, f in flags.items() if "write" in f}
    assert not writes, f"MONITOR saw write commands: {writes}"
    assert {"hgetall", "hscan", "mget"} <= names

    stats = admin.info("commandstats")
    used = {k.removeprefix("cmdstat_").split("|")[0] for k in stats}
    assert not used & {"eval", "evalsha", "eval_ro", "evalsha_ro", "script", "multi", "exec"}
    assert "info" not in names  # statfs of a read-only instance does without INFO
    flags = _command_flags(admin, used)
    writes = {n for n, f in flags.items() if "write" in f or "may_replicate" in f}
    assert not writes, f"INFO commandstats shows write commands: {writes}"
    assert writer.getattr(inos["file"]).size == 250_000  # nothing changed
    assert admin.execute_command("ACL", "LOG") == []  # the reader was never refused


def test_resolve_falls_back_when_server_lacks_eval_ro(private_redis) -> None:
    """Redis 6 has no EVALSHA_RO; a server without it still resolves paths."""
    server = private_redis("--rename-command", "evalsha_ro", "", "--rename-command",
                           "eval_ro", "")
    client = redis.Redis.from_url(server.url)
    with pytest.raises(redis.ResponseError, match="unknown command"):
        client.execute_command("EVALSHA_RO", "0" * 40, 0)
    fs = FileSystem.mkfs(client, "old")
    d = fs.mkdir(ROOT_INO, "d")
    assert fs.resolve("/d").ino == d.ino
    fails(errno.ENOENT, fs.resolve, "/d/none")
    assert FileSystem(client, "old", read_only=True).lookup(ROOT_INO, "d").ino == d.ino


def test_read_only_instance_refuses_without_asking_redis(fs: FileSystem) -> None:
    inos = _populate(fs)
    before = fs.superblock()
    rofs = FileSystem(fs.client, fs.prefix, read_only=True)
    for mutate in _mutators(rofs, inos):
        fails(errno.EROFS, mutate)
    assert fs.superblock() == before
    assert fs.getattr(inos["file"]).open_count == 0  # open/release registered nothing
    assert_consistent(fs)


# -- bad servers ------------------------------------------------------------------------------
def test_nothing_listening_is_eio_quickly() -> None:
    spec = ServerSpec.from_parts(host="127.0.0.1", port=free_port())
    started = time.monotonic()
    with pytest.raises(FsError) as info:
        connect(spec)
    assert info.value.errno == errno.EIO
    assert time.monotonic() - started < 10


def test_server_gone_mid_session_is_eio(private_redis) -> None:
    server = private_redis()
    client = connect(ServerSpec.from_parts(url=server.url))
    fs = FileSystem.mkfs(client, "gone")
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    server.stop()
    for op in (lambda: fs.getattr(f), lambda: fs.write(f, 0, b"x")):
        started = time.monotonic()
        fails(errno.EIO, op)
        assert time.monotonic() - started < 10


def test_wrong_password_is_eacces(private_redis) -> None:
    server = private_redis("--requirepass", "s3cret-pw")
    for password in ("wrong", None):
        started = time.monotonic()
        with pytest.raises(FsError) as info:
            connect(ServerSpec(url=server.url, password=password))
        assert info.value.errno == errno.EACCES
        assert "wrong" not in str(info.value) and "s3cret" not in str(info.value)
        assert time.monotonic() - started < 3  # a refused login is not retried
    good = connect(ServerSpec(url=server.url, password="s3cret-pw"))
    assert FileSystem.mkfs(good, "pw").getattr(ROOT_INO).is_dir


def test_full_redis_is_enospc_and_stays_consistent(private_redis) -> None:
    server = private_redis("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    client = connect(ServerSpec.from_parts(url=server.url))
    fs = FileSystem.mkfs(client, "full", block_size=64 * 1024)
    written: dict[int, bytes] = {}
    error, failed_ino = None, 0
    for i in range(200):
        try:
            failed_ino = fs.create(ROOT_INO, f"f{i}", 0o644, open_handle=False).ino
            data = os.urandom(100_000)
            fs.write(failed_ino, 0, data)
            written[failed_ino] = data
        except FsError as exc:
            error = exc
            break
    assert error is not None and error.errno == errno.ENOSPC, error
    assert "full" in str(error)
    assert 5 <= len(written) < 200
    assert_consistent(fs)
    # Redis counts a command's own arguments against maxmemory, so small commands may
    # still fit; a write of the same size keeps failing, and changes nothing.
    before = fs.superblock()
    for _ in range(3):
        fails(errno.ENOSPC, fs.write, failed_ino, 0, os.urandom(100_000))
    assert fs.superblock() == before
    assert fs.getattr(failed_ino).size == 0
    assert_consistent(fs)
    for ino, data in written.items():  # everything written before is intact
        assert fs.read(ino, 0, len(data) + 1) == data
    # deleting works while full and makes room again
    for page in fs.readdir(ROOT_INO):
        for name, _ in page:
            fs.unlink(ROOT_INO, name)
    assert_consistent(fs)
    assert fs.superblock()["stored_bytes"] == "0"
    f = fs.create(ROOT_INO, "after", 0o644, open_handle=False).ino
    fs.write(f, 0, os.urandom(100_000))
    assert fs.getattr(f).size == 100_000
    assert_consistent(fs)


def test_hostile_values_are_euclean_not_crashes(fs: FileSystem) -> None:
    """Fields a script cannot read as numbers and keys of the wrong type: every call
    answers EUCLEAN (run fsck), never a Lua error as EIO or a Python exception."""
    bad_mode = fs.create(ROOT_INO, "bad-mode", 0o644)
    bad_size = fs.create(ROOT_INO, "bad-size", 0o644)
    folder = fs.mkdir(ROOT_INO, "folder", 0o755)
    fs.client.hset(fs.keys.inode(bad_mode.ino), "mode", "abc")
    fs.client.hset(fs.keys.inode(bad_size.ino), "size", "big")
    fs.client.set(fs.keys.xattrs(bad_size.ino), "not a hash")
    fs.client.delete(fs.keys.dirents(folder.ino))
    fs.client.set(fs.keys.dirents(folder.ino), "not a hash")
    calls = [lambda: fs.write(bad_mode.ino, 0, b"x"), lambda: fs.truncate(bad_mode.ino, 0),
             lambda: fs.write(bad_size.ino, 0, b"x"), lambda: fs.read(bad_size.ino, 0, 9),
             lambda: fs.truncate(bad_size.ino, 1), lambda: fs.getxattr(bad_size.ino, "user.a"),
             lambda: fs.setxattr(bad_size.ino, "user.a", b"v"),
             lambda: list(fs.readdir(folder.ino)), lambda: fs.lookup(folder.ino, "x"),
             lambda: fs.create(folder.ino, "x", 0o644),
             lambda: fs.rename(ROOT_INO, "bad-size", folder.ino, "moved")]
    for call in calls:
        with pytest.raises(FsError) as info:
            call()
        assert info.value.errno == errno.EUCLEAN, info.value
    report = inode_report(fs, folder.ino)  # the inspector shows the damage, never fails
    assert report.dirents is not None and report.dirents.rtype == "string"
    assert report.dirents.fields == [
        ("(not a hash)", "not a hash", "a string where a hash belongs")]
