"""The UI's Textual-free parts against a real redis-server: formatting, entries,
previews, copying, the embedded server, the demo filesystem and the CLI."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from helpers_invariants import stored_key

from redisfs_tui.core import ROOT_INO, FileSystem, FsError
from redisfs_tui.core.demo import SPARSE_SIZE, build_demo
from redisfs_tui.core.embedded import (
    answers,
    ensure_embedded_server,
    resolve_default_server,
    stop_embedded_server,
)
from redisfs_tui.core.local_server import free_port
from redisfs_tui.ui import fmt
from redisfs_tui.ui.entries import Entry, SortKey, filter_entries, sort_entries
from redisfs_tui.ui.inspect_data import inode_report
from redisfs_tui.ui.preview_data import hexdump, load_preview, looks_binary
from redisfs_tui.ui.transfer import TransferCancelled, copy_in, copy_out, remove_tree


def test_formatting():
    assert fmt.size(0) == "0 B" and fmt.size(1023) == "1023 B"
    assert fmt.size(1536) == "1.5 KiB" and fmt.size(1 << 30) == "1.0 GiB"
    assert fmt.ratio(300, 100) == "3.0x" and fmt.ratio(0, 0) == "-"
    assert fmt.parse_mode("0755") == 0o755 and fmt.parse_mode("4750") == 0o4750
    for bad in ("", "9", "rwx", "777777"):
        with pytest.raises(ValueError):
            fmt.parse_mode(bad)
    assert fmt.error_text(FsError(errno.ENOENT, "inode 9")) == "No such file or directory: inode 9"
    assert fmt.user_name(0) == "root"
    assert fmt.decode_name(b"caf\xe9") == "caf\udce9"  # undecodable bytes survive


def test_entries_sort_and_filter(fs: FileSystem):
    fs.mkdir(ROOT_INO, "zdir")
    for name, size in (("b.txt", 5), ("A.txt", 50), ("c.txt", 1)):
        ino = fs.create(ROOT_INO, name, 0o644).ino
        fs.write(ino, 0, b"x" * size)
        fs.release(ino)
    entries = [Entry(n, a) for page in fs.readdir_plus(ROOT_INO) for n, a in page]
    sort_entries(entries, SortKey.NAME)
    assert [e.name for e in entries] == ["zdir", "A.txt", "b.txt", "c.txt"]  # dirs first
    sort_entries(entries, SortKey.SIZE)
    assert [e.name for e in entries] == ["zdir", "A.txt", "b.txt", "c.txt"]
    sort_entries(entries, SortKey.SIZE, reverse=True)
    assert [e.name for e in entries][1:] == ["c.txt", "b.txt", "A.txt"]
    assert [e.name for e in filter_entries(entries, "A.")] == ["A.txt"]  # case-insensitive
    assert SortKey.NAME.next() is SortKey.SIZE and SortKey.MTIME.next() is SortKey.NAME


def test_binary_detection_and_hexdump():
    assert not looks_binary("héllo wörld".encode()[:-1])  # a character cut at the end is text
    assert looks_binary(b"abc\0def") and looks_binary(b"\xff\xfe\xfa")
    dump = hexdump(bytes(range(20)))
    first, second = dump.split("\n")
    assert first.startswith("00000000  00 01 02 03 04 05 06 07  08 09")
    assert second.startswith("00000010  10 11 12 13") and first.endswith("................")


def test_preview_and_inspector_data(client, fs: FileSystem):
    ino = fs.create(ROOT_INO, "big.txt", 0o644).ino
    fs.write(ino, 0, b"line\n" * 40_000)  # 200 000 bytes
    fs.release(ino)
    attr = fs.getattr(ino)
    data = load_preview(fs, attr, "/big.txt")
    assert data.kind == "text" and len(data.text) == 64 * 1024
    assert "first 64.0 KiB of 195.3 KiB" in data.headline
    report = inode_report(fs, ino)
    assert report.inode.key == fs.keys.inode(ino)
    assert dict((f, v) for f, v, _ in report.inode.fields)["size"] == "200000"
    assert [b.key for b in report.blocks] == [stored_key(fs, ino, 0), stored_key(fs, ino, 1)]
    assert all(b.codec == "zstd" and b.stored_bytes < b.raw_bytes for b in report.blocks)
    assert report.dirents is None
    root = inode_report(fs, ROOT_INO)
    assert root.dirents is not None and ("big.txt", str(ino), "") in root.dirents.fields


def test_copy_out_and_in_keep_data_modes_times_links_and_holes(fs: FileSystem, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "notes.txt").write_text("hello\n")
    with open(src / "sparse.img", "wb") as handle:
        handle.truncate(10 << 20)
        handle.seek(5 << 20)
        handle.write(b"middle")
    os.chmod(src / "sub" / "notes.txt", 0o640)
    os.utime(src / "sub" / "notes.txt", ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
    os.symlink("sub/notes.txt", src / "link")
    seen = []
    result = copy_in(fs, ROOT_INO, [str(src)], lambda d, t, n: seen.append((d, t)),
                     lambda: False)
    assert (result.files, result.dirs, result.links) == (2, 2, 1)
    notes = fs.resolve("/src/sub/notes.txt")
    assert stat.S_IMODE(notes.mode) == 0o640 and notes.mtime_ns == 1_600_000_000 * 10**9
    assert fs.readlink(fs.resolve("/src/link").ino) == b"sub/notes.txt"
    img = fs.resolve("/src/sparse.img")
    assert img.size == 10 << 20 and fs.read(img.ino, 5 << 20, 6) == b"middle"
    assert seen[-1][0] == seen[-1][1] == (10 << 20) + 6

    out = tmp_path / "out"
    out.mkdir()
    copy_out(fs, fs.resolve("/src"), "src", str(out), lambda *a: None, lambda: False)
    assert (out / "src" / "sub" / "notes.txt").read_text() == "hello\n"
    assert os.readlink(out / "src" / "link") == "sub/notes.txt"
    image = out / "src" / "sparse.img"
    assert image.stat().st_size == 10 << 20 and image.stat().st_blocks * 512 < 1 << 20  # sparse
    with pytest.raises(FsError) as exc:  # never overwrite local files
        copy_out(fs, fs.resolve("/src"), "src", str(out), lambda *a: None, lambda: False)
    assert exc.value.errno == errno.EEXIST

    calls = iter(range(100))
    with pytest.raises(TransferCancelled):
        remove_tree(fs, ROOT_INO, b"src", lambda *a: None, lambda: next(calls) >= 2)
    count = remove_tree(fs, ROOT_INO, b"src", lambda *a: None, lambda: False)
    assert count >= 1
    with pytest.raises(FsError):
        fs.resolve("/src")
    assert fs.count_entries(ROOT_INO) == 0


def test_demo_filesystem(client, prefix):
    fs, created = build_demo(client, prefix, now_ns=1_700_000_000 * 10**9, uid=0, gid=0)
    assert created
    assert fs.resolve("/src/README.md").ino == fs.resolve("/README.md").ino  # hard link
    assert fs.resolve("/README.md").nlink == 2
    assert fs.readlink(fs.resolve("/latest.log").ino) == b"var/log/access-full.log"
    assert stat.S_ISFIFO(fs.resolve("/var/run/events.fifo").mode)
    assert fs.getxattr(fs.resolve("/README.md").ino, "user.comment") == b"start here"
    disk = fs.resolve("/images/disk.img")
    assert disk.size == SPARSE_SIZE
    assert fs.read(fs.resolve("/assets/logo.png").ino, 0, 8) == b"\x89PNG\r\n\x1a\n"
    assert fs.resolve("/var/log/access-full.log").size > 10 << 20
    assert fs.resolve("/src").mtime_ns == 1_700_000_000 * 10**9 - 3 * 3600 * 10**9
    sb = fs.superblock()
    assert int(sb["stored_bytes"]) < 4 << 20 < int(sb["logical_bytes"])
    again, created = build_demo(client, prefix)
    assert not created and again.uuid == fs.uuid


def test_embedded_server_start_reuse_stop(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    try:
        first = ensure_embedded_server()
        assert first.started and first.url.startswith("unix://")
        assert first.socket_path == runtime / "redisfs" / "redis.sock"
        assert first.data_dir == tmp_path / "data" / "redisfs"
        client = redis.Redis.from_url(first.url)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("port")["port"] == "0"  # no TCP: only the private socket
        client.set("k", "v")
        client.close()
        second = ensure_embedded_server()
        assert not second.started and second.url == first.url
        closed = f"redis://127.0.0.1:{free_port()}/0"
        default = resolve_default_server(probe_url=closed)
        assert default.embedded is not None and default.url == first.url
        assert "private redis-server" in default.message
    finally:
        assert stop_embedded_server()
    assert not answers(first.url)
    restarted = ensure_embedded_server()  # data survives a restart (AOF)
    try:
        client = redis.Redis.from_url(restarted.url)
        assert client.get("k") == b"v"
        client.close()
    finally:
        stop_embedded_server()


def test_default_prefers_a_redis_on_the_probe_url(redis_server):
    default = resolve_default_server(probe_url=redis_server.url)
    assert default.url == redis_server.url and default.embedded is None


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "redisfs_tui.cli.ui", *args],
                          capture_output=True, text=True, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)


def test_cli_bad_server_and_bad_prefix_fail_cleanly(redis_server):
    result = cli("--url", f"redis://user:secret@127.0.0.1:{free_port()}/0")
    assert result.returncode == 2
    assert "cannot use Redis" in result.stderr and "Traceback" not in result.stderr
    assert "secret" not in result.stderr  # the password is redacted
    result = cli("--url", redis_server.url, "--prefix", "bad prefix")
    assert result.returncode == 2 and "invalid prefix" in result.stderr
    result = cli("--url", redis_server.url, "--prefix", "nothing-here")
    assert result.returncode == 2 and "no filesystem" in result.stderr
    assert "Traceback" not in result.stderr
    assert Path(sys.executable).exists()
