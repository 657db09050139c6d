"""Snapshots, restore and diff (core/snapshot.py) and the redisfs-snapshot command."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest
import redis
from helpers_invariants import pool_keys

from redisfs_tui.core import ROOT_INO, FileSystem, FsError, codec
from redisfs_tui.core import snapshot as snap
from redisfs_tui.core.keys import Keys
from redisfs_tui.core.local_server import LocalRedis


def _tree(fs: FileSystem) -> None:
    docs = fs.mkdir(ROOT_INO, "docs")
    f = fs.create(docs.ino, "a.txt", 0o644)
    fs.write(f.ino, 0, b"alpha" * 50_000)
    fs.release(f.ino)
    fs.symlink(ROOT_INO, "link", "docs/a.txt")
    fs.link(f.ino, ROOT_INO, "hard")
    fs.setxattr(f.ino, "user.tag", b"v1")


def test_snapshot_is_point_in_time_copy(client: redis.Redis, fs: FileSystem) -> None:
    _tree(fs)
    result = snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    assert result.inodes == 4
    ino = fs.resolve("/docs/a.txt").ino
    fs.write(ino, 0, b"CHANGED")
    fs.unlink(ROOT_INO, "link")

    copy = FileSystem(client, fs.prefix + ".s")
    assert copy.superblock()["snapshot_of"] == fs.prefix
    copied = copy.resolve("/docs/a.txt")
    assert copy.read(copied.ino, 0, 5) == b"alpha"
    assert copied.nlink == 2 and copy.resolve("/hard").ino == copied.ino
    assert copy.readlink(copy.resolve("/link").ino) == b"docs/a.txt"
    assert copy.getxattr(copied.ino, "user.tag") == b"v1"
    changes = {(d.path, d.change) for d in snap.diff(copy, fs)}
    assert changes == {("/docs/a.txt", "modified"), ("/hard", "modified"), ("/link", "removed")}


def test_snapshot_refuses_existing_target(client: redis.Redis, fs: FileSystem) -> None:
    FileSystem.mkfs(client, fs.prefix + ".taken")
    with pytest.raises(FsError) as info:
        snap.snapshot(client, fs.prefix, fs.prefix + ".taken")
    assert info.value.errno == errno.EEXIST


def test_restore_replaces_everything(client: redis.Redis, fs: FileSystem) -> None:
    _tree(fs)
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    fs.mkdir(ROOT_INO, "new")
    big = fs.create(ROOT_INO, "big", 0o600)
    fs.write(big.ino, 0, bytes(range(256)) * 4096)
    fs.release(big.ino)
    fs.rename(ROOT_INO, "docs", ROOT_INO, "moved")
    snap.restore(client, fs.prefix + ".s", fs.prefix)
    again = FileSystem(client, fs.prefix)
    assert list(snap.diff(FileSystem(client, fs.prefix + ".s"), again)) == []
    assert "snapshot_of" not in again.superblock()
    names = sorted(n for page in again.readdir(ROOT_INO) for n, _ in page)
    assert names == [b"docs", b"hard", b"link"]
    sb = again.superblock()
    assert int(sb["logical_bytes"]) == 250_000
    # no block of the dropped 1 MiB file survives: the pool holds what the maps name
    named = {again.block_key(e.split(b".")[1].decode())
             for prefix in (fs.prefix, fs.prefix + ".s")
             for k in client.scan_iter(match=Keys(prefix).pattern("k"))
             for e in client.hvals(k)}
    assert {k.decode() for k in pool_keys(client, again.pool)} == named and named


def test_diff_reports_metadata_and_type(client: redis.Redis, fs: FileSystem) -> None:
    _tree(fs)
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    fs.chmod(fs.resolve("/docs").ino, 0o700)
    fs.unlink(ROOT_INO, "link")
    fs.mkdir(ROOT_INO, "link")
    changes = {d.path: d.change for d in snap.diff(FileSystem(client, fs.prefix + ".s"), fs)}
    assert changes == {"/docs": "metadata", "/link": "type"}


def test_snapshot_cli(redis_server: LocalRedis, client: redis.Redis, fs: FileSystem) -> None:
    _tree(fs)
    cmd = [sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url", redis_server.url]
    done = subprocess.run([*cmd, f"--from={fs.prefix}", f"--to={fs.prefix}.cli"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"snapshot {fs.prefix}.cli of {fs.prefix}: 4 inodes" in done.stdout
    listed = subprocess.run([*cmd, "--list"], capture_output=True, text=True, timeout=60)
    assert f"{fs.prefix}.cli" in listed.stdout and f"(snapshot of {fs.prefix})" in listed.stdout
    again = subprocess.run([*cmd, f"--from={fs.prefix}", f"--to={fs.prefix}.cli"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "File exists" in again.stderr
    assert "Traceback" not in again.stderr
    missing = subprocess.run([*cmd, "--from=nope-such"], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1 and "no filesystem with prefix 'nope-such'" in missing.stderr
    bad = subprocess.run([*cmd, "--from=bad{prefix}"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid prefix" in bad.stderr


def test_snapshot_cli_without_server() -> None:
    from redisfs_tui.core.local_server import free_port

    done = subprocess.run(
        [sys.executable, "-m", "redisfs_tui.cli.snapshot", "--port", str(free_port()),
         "--host", "127.0.0.1", "--from=skx"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot use Redis" in done.stderr and "Traceback" not in done.stderr


def test_snapshot_cli_export_and_import(redis_server: LocalRedis, client: redis.Redis,
                                        fs: FileSystem, tmp_path) -> None:
    _tree(fs)
    cmd = [sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url", redis_server.url,
           f"--from={fs.prefix}"]
    dump = tmp_path / "fs.rdb"
    done = subprocess.run([*cmd, f"--export={dump}"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert dump.read_bytes().startswith(b"REDIS0010")
    from redisfs_tui.core.registry import delete_filesystem

    delete_filesystem(client, fs.prefix)
    done = subprocess.run([*cmd, f"--import={dump}"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    back = FileSystem(client, fs.prefix)
    assert back.read(back.resolve("/docs/a.txt").ino, 0, 5) == b"alpha"
    (tmp_path / "junk.rdb").write_bytes(b"not an rdb at all")
    bad = subprocess.run([*cmd, f"--import={tmp_path / 'junk.rdb'}"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "not an RDB file" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_diff_compares_contents_not_encodings(client: redis.Redis, fs: FileSystem) -> None:
    """Blocks stored byte for byte alike are equal; blocks stored differently (another
    codec) are compared decoded, up to the file's size."""
    body = (b"0123456789abcdef" * 20_000)[: 3 * fs.block_size - 100]
    for name in ("same", "recoded", "changed"):
        f = fs.create(ROOT_INO, name, 0o644)
        fs.write(f.ino, 0, body)
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    copy = FileSystem(client, fs.prefix + ".s")
    recoded = copy.resolve("/recoded").ino
    copy.codec = "zlib"  # the same bytes, stored with zlib instead of zstd
    copy.write(recoded, 0, copy.read(recoded, 0, len(body)))
    copy.codec = fs.codec
    assert codec.codec_name(copy.stored_blocks(recoded, 0, 1)[0]) == "zlib"
    assert copy.read(recoded, 0, len(body)) == body
    changed = copy.resolve("/changed").ino
    copy.write(changed, fs.block_size + 7, b"X")
    assert {(d.path, d.change) for d in snap.diff(fs, copy)} == {("/changed", "modified")}


def test_snapshot_cli_bad_url_and_password_file_are_usage_errors(redis_server: LocalRedis,
                                                                 tmp_path) -> None:
    """They were tracebacks (UnicodeDecodeError, ValueError) or an unbounded read."""
    latin1 = tmp_path / "latin1.pw"
    latin1.write_bytes("pässwörd\n".encode("latin-1"))
    cmd = [sys.executable, "-m", "redisfs_tui.cli.snapshot", "--list"]
    for args, message in (
        (["--url", redis_server.url, "--password-file", str(latin1)], "is not UTF-8 text"),
        (["--url", redis_server.url, "--password-file=/dev/zero"], "longer than 4096 bytes"),
        (["--url", "redis://:pw@h:99999", "--host", "127.0.0.1"], "Port out of range"),
        (["--url", "redis://127.0.0.1/x"], "database number"),
    ):
        done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        assert "pw@" not in done.stderr


def test_snapshot_cli_import_to_a_new_name_and_prefix_checks(
        redis_server: LocalRedis, client: redis.Redis, fs: FileSystem, tmp_path) -> None:
    """--import FILE --to=NEW (offered by --help, refused before), and invalid prefixes
    with --export/--import (a traceback before) are usage errors."""
    _tree(fs)
    cmd = [sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url", redis_server.url]
    dump = tmp_path / "fs.rdb"
    done = subprocess.run([*cmd, f"--from={fs.prefix}", f"--export={dump}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    copy = f"{fs.prefix}.imported"
    done = subprocess.run([*cmd, f"--from={fs.prefix}", f"--import={dump}", f"--to={copy}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"imported {fs.prefix} from {dump} as {copy}:" in done.stdout
    back = FileSystem(client, copy)  # the original is still there, untouched
    assert back.read(back.resolve("/docs/a.txt").ino, 0, 5) == b"alpha"
    assert back.readlink(back.resolve("/link").ino) == b"docs/a.txt"
    assert back.resolve("/hard").ino == back.resolve("/docs/a.txt").ino
    assert back.uuid and back.uuid != FileSystem(client, fs.prefix).uuid
    assert list(snap.diff(FileSystem(client, fs.prefix), back)) == []
    again = subprocess.run([*cmd, f"--from={fs.prefix}", f"--import={dump}", f"--to={copy}"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already exists" in again.stderr

    for args, message in (
        ([f"--from={fs.prefix}", "--to="], "invalid prefix '' for --to"),
        (["--from=", "--list"], "invalid prefix '' for --from"),
        (["--from=bad{x}", f"--export={tmp_path / 'x.rdb'}"], "invalid prefix 'bad{x}'"),
        (["--from=bad{x}", f"--import={dump}"], "invalid prefix 'bad{x}' for --from"),
        ([f"--from={fs.prefix}", f"--import={dump}", "--to=a b"], "invalid prefix 'a b'"),
    ):
        bad = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)
    assert not (tmp_path / "x.rdb").exists()
