"""The pure RDB reader/writer against files saved by a real redis-server 7.0.15,
and filesystems exported to / imported from dump files."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from redisfs_tui.core import ROOT_INO, FileSystem, FsError, rdb_io
from redisfs_tui.core.local_server import LocalRedis
from redisfs_tui.rdb import RdbEntry, RdbError, crc64, read_rdb, write_rdb

# copied from shared/fixtures/rdb (saved by a real redis-server 7.0.15; see its README)
FIXTURES = Path(__file__).parent / "fixtures" / "rdb"


def test_crc64_check_value() -> None:
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def test_minimal_fixture() -> None:
    dump = read_rdb(FIXTURES / "minimal.rdb")
    assert dump.version == 10
    assert dump.aux[b"redis-ver"] == b"7.0.15"
    assert [(e.db, e.key, e.type, e.value) for e in dump.entries] == [(0, b"k", "string", b"v")]
    assert dump.checksum == int.from_bytes(bytes.fromhex("3824eda8a70741a5"), "little")


def test_mixed_fixture_every_encoding() -> None:
    for name in ("mixed.rdb", "mixed-nocompress.rdb"):
        dump = read_rdb(FIXTURES / name)
        db0 = {k: e.value for k, e in dump.keys(0).items()}
        assert len(db0) == 22
        assert db0[b"str:int8"] == b"-5" and db0[b"str:int16"] == b"12345"
        assert db0[b"str:int32"] == b"2147483647" and db0[b"str:noncanon"] == b"007"
        assert db0[b"str:binary"] == b"a\x00b\xffc" and db0[b"str:empty"] == b""
        assert db0[b"str:long_a"] == b"a" * 100
        assert db0[b"str:lorem"] == b" ".join([b"lorem ipsum dolor sit amet"] * 4)
        assert db0[b"set:int:small"] == {b"1", b"2", b"3", b"100000", b"-7"}
        assert db0[b"set:int:large"] == {str(i).encode() for i in range(1, 601)}
        assert db0[b"hash:small"] == {b"name": b"alice", b"age": b"30", b"blob": b"x" * 30}
        assert db0[b"hash:large"] == {f"f{i}".encode(): f"v{i}".encode() for i in range(600)}
        assert db0[b"hash:bigval"] == {b"big": b"y" * 100}
        assert db0[b"list:small"] == [b"a", b"b", b"c", b"1", b"2"]
        assert db0[b"list:large"] == [f"item-{i:04d}".encode() for i in range(1000)]
        assert db0[b"zset:small"] == [(b"a", 1.0), (b"b", 2.5)]
        assert sorted(db0[b"zset:large"]) == sorted((f"m{i}".encode(), i * 0.5)
                                                    for i in range(200))
        assert dump.keys(0)[b"str:expiring"].expire_ms == 4102444800000
        assert dump.keys(1)[b"db1:key"].value == b"in db 1"


def test_other_fixtures() -> None:
    assert read_rdb(FIXTURES / "nochecksum.rdb").checksum is None
    lru = read_rdb(FIXTURES / "lru-function.rdb")
    assert lru.functions and b"mylib" in lru.functions[0]
    assert lru.keys()[b"s1"].value == {b"x", b"y"}
    assert read_rdb(FIXTURES / "lfu.rdb").keys()[b"h1"].value == {b"f": b"v"}
    plain = read_rdb(FIXTURES / "handmade-v9-plain.rdb").keys()
    resaved = read_rdb(FIXTURES / "handmade-v9-resaved-by-7.0.15.rdb").keys()
    assert {k: e.value for k, e in plain.items()} == {k: e.value for k, e in resaved.items()}


@pytest.mark.parametrize("damage", ["flip", "truncate", "header", "empty"])
def test_damaged_files_are_refused_clearly(tmp_path: Path, damage: str) -> None:
    data = bytearray((FIXTURES / "mixed.rdb").read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 3]
    elif damage == "header":
        data[:5] = b"HELLO"
    else:
        data = bytearray()
    with pytest.raises(RdbError) as info:
        read_rdb(bytes(data))
    assert str(info.value)


def test_written_file_loads_into_real_redis(tmp_path: Path) -> None:
    entries = [
        RdbEntry(0, b"s", "string", b"\x00bin\xff" * 100),
        RdbEntry(0, b"h", "hash", {b"f%d" % i: b"v" * i for i in range(300)}),
        RdbEntry(0, b"set", "set", {b"a", b"b", b"12"}),
        RdbEntry(0, b"l", "list", [b"x", b"y", b"x"]),
        RdbEntry(0, b"z", "zset", [(b"m", 1.5), (b"n", -2.0)]),
        RdbEntry(0, b"e", "string", b"later", expire_ms=4102444800000),
        RdbEntry(2, b"other", "string", b"db2"),
    ]
    data_dir = tmp_path / "srv"
    data_dir.mkdir()
    write_rdb(data_dir / "dump.rdb", entries)
    assert not list(data_dir.glob(".tmp-*"))  # the temp file was renamed away
    again = read_rdb(data_dir / "dump.rdb")
    assert [(e.key, e.value) for e in again.entries][:2] == [(b"s", entries[0].value),
                                                            (b"h", entries[1].value)]
    with LocalRedis(data_dir, extra_args=["--dbfilename", "dump.rdb"]) as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("s") == entries[0].value
        assert client.hgetall("h") == entries[1].value
        assert client.smembers("set") == {b"a", b"b", b"12"}
        assert client.lrange("l", 0, -1) == [b"x", b"y", b"x"]
        assert client.zrange("z", 0, -1, withscores=True) == [(b"n", -2.0), (b"m", 1.5)]
        assert client.pexpiretime("e") == 4102444800000
        assert redis.Redis.from_url(server.url.rsplit("/", 1)[0] + "/2").get("other") == b"db2"


def test_filesystem_export_import_roundtrip(client: redis.Redis, fs: FileSystem,
                                            tmp_path: Path) -> None:
    docs = fs.mkdir(ROOT_INO, "docs")
    f = fs.create(docs.ino, "data.bin", 0o600)
    payload = bytes(range(256)) * 2000
    fs.write(f.ino, 0, payload)
    fs.release(f.ino)
    fs.symlink(ROOT_INO, "ln", "docs/data.bin")
    dump = tmp_path / "fs.rdb"
    assert rdb_io.export_filesystem(client, fs.prefix, dump) >= 6
    [found] = rdb_io.filesystems_in_rdb(dump)
    assert found.prefix == fs.prefix and found.superblock["inodes"] == "4"
    # recover with no server of ours: a private redis-server loads the dump directly
    offline_dir = tmp_path / "offline"
    offline_dir.mkdir()
    shutil.copy(dump, offline_dir / "dump.rdb")
    with LocalRedis(offline_dir, extra_args=["--dbfilename", "dump.rdb"]) as server:
        offline = FileSystem(redis.Redis.from_url(server.url), fs.prefix, read_only=True)
        assert offline.read(offline.resolve("/docs/data.bin").ino, 0, len(payload)) == payload
    # and import into the live server under the same prefix after deleting the original
    from redisfs_tui.core.registry import delete_filesystem

    delete_filesystem(client, fs.prefix)
    assert rdb_io.import_filesystem(client, dump, fs.prefix).keys >= 6
    back = FileSystem(client, fs.prefix)
    assert back.readlink(back.resolve("/ln").ino) == b"docs/data.bin"
    assert back.read(back.resolve("/docs/data.bin").ino, 1000, 10) == payload[1000:1010]
    with pytest.raises(FsError) as info:
        rdb_io.import_filesystem(client, dump, fs.prefix)
    assert info.value.errno == errno.EEXIST
    (tmp_path / "bad.rdb").write_bytes(b"REDIS0010garbage")
    with pytest.raises(FsError) as info:
        rdb_io.import_filesystem(client, tmp_path / "bad.rdb", fs.prefix)
    assert info.value.errno == errno.EINVAL


# -- hostile and foreign dumps (issue 9) --------------------------------------------------
def _rdb_string(data: bytes) -> bytes:
    """A length-prefixed RDB string (6-, 14- or 32-bit length)."""
    n = len(data)
    if n < 64:
        return bytes([n]) + data
    if n < 16384:
        return bytes([0x40 | n >> 8, n & 0xFF]) + data
    return b"\x80" + n.to_bytes(4, "big") + data


def _rdb_length(n: int) -> bytes:
    if n < 16384:
        return _rdb_string(b"\0" * n)[: -n or None]
    return b"\x80" + n.to_bytes(4, "big") if n < 2**32 else b"\x81" + n.to_bytes(8, "big")


def _dump(*records: bytes) -> bytes:
    """A version-10 dump of db 0 holding ``records`` (type byte, key, value), no CRC."""
    return b"REDIS0010\xfe\x00" + b"".join(records) + b"\xff" + bytes(8)


def test_lzf_expansion_is_bounded_by_the_declared_length(tmp_path: Path) -> None:
    """A 3 MB LZF string declaring 100 bytes but expanding 88-fold (one literal, then
    back references of 264 bytes each): refused without building the 264 MB."""
    import time
    import tracemalloc

    bomb = b"\x00a" + b"\xe0\xff\x00" * 1_000_000
    lzf = b"\xc3" + _rdb_length(len(bomb)) + _rdb_length(100) + bomb
    data = _dump(b"\x00" + _rdb_string(b"bomb") + lzf)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(RdbError, match="more than the 100 bytes"):
            read_rdb(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"{peak / 2**20:.0f} MiB"
    assert time.monotonic() - started < 10
    huge = _dump(b"\x00" + _rdb_string(b"k") + b"\xc3" + _rdb_length(3) + _rdb_length(10**9)
                 + b"\x02abc")
    with pytest.raises(RdbError, match="claims 1000000000 bytes"):  # no 1 GB allocation
        read_rdb(huge)


def test_sorted_set_scores_that_are_not_numbers_are_rdb_errors(redis_server: LocalRedis,
                                                                tmp_path: Path) -> None:
    """Both encodings: type 3 (scores as text) and a listpack (type 17).  They were a
    bare ValueError, a traceback from redisfs-snapshot --import."""
    text_zset = b"\x03" + _rdb_string(b"z") + b"\x01" + _rdb_string(b"m") + b"\x03abc"
    lp = bytearray(b"\0\0\0\0\x02\x00" + b"\x81m\x02" + b"\x83abc\x04" + b"\xff")
    lp[:4] = len(lp).to_bytes(4, "little")
    listpack_zset = b"\x11" + _rdb_string(b"z") + _rdb_string(bytes(lp))
    for record in (text_zset, listpack_zset):
        with pytest.raises(RdbError, match=r"key b'z': sorted-set score b'abc' is not a number"):
            read_rdb(_dump(record))
    path = tmp_path / "zset.rdb"
    path.write_bytes(_dump(listpack_zset))
    done = subprocess.run(
        [sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url", redis_server.url,
         "--from=skx", f"--import={path}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "sorted-set score b'abc' is not a number" in done.stderr


def _stream_server_dump(server: LocalRedis, client: redis.Redis, tmp_path: Path) -> Path:
    """A dump saved by the real redis-server holding a filesystem and an unrelated stream
    with a consumer group, pending entries and two consumers."""
    fs = FileSystem.mkfs(client, "withstream")
    f = fs.create(ROOT_INO, "kept.txt", 0o644)
    fs.write(f.ino, 0, b"survives the stream " * 1000)
    fs.release(f.ino)
    for i in range(50):
        client.xadd("events", {"n": i, "payload": "x" * i})
    client.xgroup_create("events", "workers", id="0")
    client.xreadgroup("workers", "alice", {"events": ">"}, count=5)
    client.xreadgroup("workers", "bob", {"events": ">"}, count=3)
    client.xack("events", "workers", client.xrange("events", count=1)[0][0])
    client.xadd("empty-stream", {"a": 1})
    client.xtrim("empty-stream", maxlen=0)
    for i in range(20):  # plenty of keys, so some follow the streams in the dump
        client.set(f"other:{i}", i)
    client.save()
    return server.data_dir / "dump.rdb"


def test_streams_in_a_real_dump_are_stepped_over(tmp_path: Path) -> None:
    with LocalRedis(tmp_path / "src") as server:
        source = redis.Redis.from_url(server.url)
        dump = _stream_server_dump(server, source, tmp_path)
        expected = source.dbsize()
    parsed = read_rdb(dump)
    assert sorted((e.key, e.type) for e in parsed.skipped) == [
        (b"empty-stream", "stream"), (b"events", "stream")]
    assert len(parsed.entries) + len(parsed.skipped) == expected  # nothing lost after them
    assert parsed.keys()[b"other:7"].value == b"7"
    assert rdb_io.filesystems_in_rdb(dump)[0].prefix == "withstream"


def test_module_values_with_eof_marks_are_stepped_over() -> None:
    """A module value (type 7) as RedisModule_Save* writes it: module id, then typed
    values up to the EOF opcode.  No module here, so the bytes are made by hand."""
    module = (b"\x07" + _rdb_string(b"mod") + b"\x81" + (12345).to_bytes(8, "big")
              + b"\x02\x05" + b"\x05" + _rdb_string(b"text") + b"\x04" + bytes(8)
              + b"\x03" + bytes(4) + b"\x01\x07" + b"\x00")
    after = b"\x00" + _rdb_string(b"after") + _rdb_string(b"v")
    parsed = read_rdb(_dump(module, after))
    assert [(e.key, e.type) for e in parsed.skipped] == [(b"mod", "module")]
    assert parsed.keys()[b"after"].value == b"v"
    with pytest.raises(RdbError, match=r"key b'old': module values are not supported"):
        read_rdb(_dump(b"\x06" + _rdb_string(b"old") + b"\x01"))  # v1: length unknown


def test_a_dump_with_a_stream_still_imports_the_filesystem(client: redis.Redis,
                                                            tmp_path: Path) -> None:
    with LocalRedis(tmp_path / "src") as server:
        dump = _stream_server_dump(server, redis.Redis.from_url(server.url), tmp_path)
    target = f"ws{time_suffix()}"
    done = subprocess.run(
        [sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url", redis_url(client),
         "--from=withstream", f"--import={dump}", f"--to={target}"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"imported withstream from {dump} as {target}:" in done.stdout
    assert "note: skipped 2 other key(s) of a type that is not read (stream)" in done.stderr
    back = FileSystem(client, target)
    assert back.read(back.resolve("/kept.txt").ino, 0, 20) == b"survives the stream "


def test_a_failed_import_leaves_nothing_behind(client: redis.Redis, fs: FileSystem,
                                               tmp_path: Path) -> None:
    f = fs.create(ROOT_INO, "f", 0o644)
    fs.write(f.ino, 0, b"data")
    fs.release(f.ino)
    dump = tmp_path / "fs.rdb"
    rdb_io.export_filesystem(client, fs.prefix, dump)
    from redisfs_tui.core.registry import delete_filesystem

    delete_filesystem(client, fs.prefix)
    stale = fs.keys.inode(ROOT_INO)  # left by a crash: a key of the prefix, another type
    client.set(stale, b"stale")
    with pytest.raises(FsError) as info:
        rdb_io.import_filesystem(client, dump, fs.prefix)
    assert list(client.scan_iter(match=fs.keys.all_keys_pattern())) == [stale.encode()]
    assert info.value.errno == errno.EEXIST and "delete them first" in info.value.strerror
    # a stream or sorted set under the filesystem's own prefix: refused before writing
    client.delete(stale)
    data = read_rdb(dump)
    entries = [*data.entries, RdbEntry(0, fs.keys.base.encode() + b"zz", "zset", [(b"m", 1.0)])]
    write_rdb(tmp_path / "foreign.rdb", entries)
    with pytest.raises(FsError, match="is a zset, which no filesystem key is"):
        rdb_io.import_filesystem(client, tmp_path / "foreign.rdb", fs.prefix)
    assert list(client.scan_iter(match=fs.keys.all_keys_pattern())) == []
    assert rdb_io.import_filesystem(client, dump, fs.prefix).keys >= 3  # the clean case


def redis_url(client: redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/0"


def time_suffix() -> str:
    import time

    return str(time.monotonic_ns())[-9:]
