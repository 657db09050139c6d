"""Migration from the C redisfs: trees written as its code writes them, migrated from a
live server and from a dump, checked through the core API."""

from __future__ import annotations

import errno
import itertools
import stat
from pathlib import Path

import pytest
import redis
from legacy_tree import ROOT, CTree

from redisfs_tui.core import ROOT_INO, FileSystem, FsError
from redisfs_tui.core.legacy import DumpSource, ServerSource, migrate
from redisfs_tui.core.local_server import LocalRedis

_names = itertools.count()
T = 1_600_000_000
NS = 10**9
BINARY = bytes(range(256)) * 40 + b"\0\0\0end"


@pytest.fixture
def c_prefix() -> str:
    return f"c{next(_names)}"


def names(fs: FileSystem, ino: int) -> dict[bytes, int]:
    return {name: child for page in fs.readdir(ino) for name, child in page}


def build_sample(tree: CTree) -> dict[str, int]:
    """A small tree with one of every kind the C code makes."""
    docs = tree.mkdir(ROOT, "docs")
    sub = tree.mkdir(docs, "sub", 0o700)
    readme = tree.create(ROOT, "README", 0o100600)
    tree.write(readme, b"hello ")
    tree.write(readme, b"world\n", offset=6)
    empty = tree.create(docs, "empty")
    blob = tree.create(sub, "blob.bin")
    tree.write(blob, BINARY)
    link = tree.symlink(ROOT, "to-readme", "README")
    tree.chown(blob, 0, 50)
    tree.chmod(blob, 0o100751)
    tree.utimens(readme, T - 100, T - 200)
    tree.link(blob, docs)  # a second name, docs/blob.bin
    return {"docs": docs, "sub": sub, "readme": readme, "empty": empty, "blob": blob,
            "link": link}


def test_a_tree_written_by_the_c_code_migrates_whole(client: redis.Redis, prefix: str,
                                                       c_prefix: str) -> None:
    build_sample(CTree(client, c_prefix))
    report = migrate(client, ServerSource(client, c_prefix), prefix)
    assert report.problems == []
    assert (report.dirs, report.files, report.symlinks, report.hard_links) == (2, 3, 1, 1)
    assert report.bytes == 12 + len(BINARY) and report.written
    fs = FileSystem(client, prefix)
    readme = fs.resolve("/README")
    assert fs.read(readme.ino, 0, 100) == b"hello world\n"
    assert stat.S_IMODE(readme.mode) == 0o600 and stat.S_ISREG(readme.mode)
    assert (readme.uid, readme.gid) == (1000, 1000)
    assert (readme.atime_ns, readme.mtime_ns) == ((T - 100) * NS, (T - 200) * NS)
    blob = fs.resolve("/docs/sub/blob.bin")
    assert bytes(fs.read(blob.ino, 0, len(BINARY) + 10)) == BINARY
    assert (stat.S_IMODE(blob.mode), blob.uid, blob.gid, blob.nlink) == (0o751, 0, 50, 2)
    assert fs.resolve("/docs/blob.bin").ino == blob.ino
    empty = fs.resolve("/docs/empty")
    assert empty.size == 0 and stat.S_IMODE(empty.mode) == 0o644
    docs, sub = fs.resolve("/docs"), fs.resolve("/docs/sub")
    assert stat.S_ISDIR(docs.mode) and docs.nlink == 3 and docs.mtime_ns == T * NS
    assert stat.S_IMODE(sub.mode) == 0o700
    assert fs.readlink(fs.resolve("/to-readme").ino) == b"README"
    assert set(names(fs, ROOT_INO)) == {b"docs", b"README", b"to-readme"}
    assert client.exists(f"{c_prefix}:INODE:1:NAME")  # the C tree is left as it was


def test_damage_is_reported_and_skipped(client: redis.Redis, prefix: str,
                                        c_prefix: str) -> None:
    tree = CTree(client, c_prefix)
    good = tree.create(ROOT, "good")
    tree.write(good, b"kept")
    client.sadd(f"{c_prefix}:DIRENT:-99", 4242, "junk")  # dangling and not a number
    nameless = tree.create(ROOT, "x")
    client.delete(tree.key(nameless, "NAME"))
    tree.create(ROOT, "a/b")
    weird = tree.create(ROOT, "w")
    client.set(tree.key(weird, "TYPE"), "FIFO")
    latin = tree.create(ROOT, b"caf\xe9")  # not UTF-8: names are bytes
    tree.write(latin, b"\xe9t\xe9")
    loop = tree.mkdir(ROOT, "loop")
    inner = tree.mkdir(loop, "inner")
    tree.link(loop, inner)  # inner lists its own parent
    tree.link(ROOT, inner)  # ... and the root
    other = tree.mkdir(ROOT, "other")
    tree.link(inner, other)  # a directory with two parents
    twin = tree.create(ROOT, "good")  # a second "good" in /
    tree.write(twin, b"twin")
    tree.link(twin, other)  # ... whose other name is free: migrated there
    nolink = tree.symlink(ROOT, "dangling-symlink", "x")
    client.delete(tree.key(nolink, "TARGET"))
    bad_data = tree.create(ROOT, "bad-data")
    client.rpush(tree.key(bad_data, "DATA"), b"not a string")
    short = tree.create(ROOT, "short")
    tree.write(short, b"0123456789")
    client.set(tree.key(short, "SIZE"), 4)
    modeless = tree.create(ROOT, "modeless")
    client.delete(tree.key(modeless, "MODE"))
    client.set(tree.key(modeless, "UID"), "root")
    orphan = tree.create(ROOT, "orphan")
    client.srem(f"{c_prefix}:DIRENT:-99", orphan)
    client.set(f"{c_prefix}:SOMETHING", "else")
    lost = tree.create(-1, "lost")  # find_inode() of a vanished parent said -1

    report = migrate(client, ServerSource(client, c_prefix), prefix)
    text = "\n".join(report.problems)
    for expected in ("4242 in / has no keys", "'junk', which is not an inode number",
                     f"C inode {nameless} in /: no NAME", "'a/b' contains '/'",
                     "TYPE 'FIFO'", "loop: directory '/loop/inner' lists its own ancestor "
                     "'/loop'", "lists its own ancestor / (C inode -99)",
                     "is also listed in '/other'",
                     f"two entries named 'good' in /: C inode {twin} skipped there",
                     "'dangling-symlink'", "no TARGET", "'bad-data'",
                     "DATA cannot be read", "SIZE 4 but DATA holds 10 bytes",
                     "'modeless'", "no MODE", "UID 'root' is not valid",
                     f"C inode {orphan} 'orphan' is in no directory",
                     "1 key(s) under the prefix are not in the C redisfs schema",
                     f"C inode {lost} 'lost' is in no directory",
                     "DIRENT:-1 belongs to no inode (the C code filed there"):
        assert expected in text, expected
    assert "Traceback" not in text and len(report.problems) == 18
    fs = FileSystem(client, prefix)
    assert set(names(fs, ROOT_INO)) == {b"good", b"caf\xe9", b"loop", b"other", b"short",
                                        b"modeless"}
    assert fs.read(fs.resolve("/good").ino, 0, 10) == b"kept"
    assert fs.read(fs.lookup(ROOT_INO, b"caf\xe9").ino, 0, 10) == b"\xe9t\xe9"
    assert fs.read(fs.resolve("/short").ino, 0, 100) == b"0123"
    modeless_attr = fs.resolve("/modeless")
    assert stat.S_IMODE(modeless_attr.mode) == 0o644 and modeless_attr.uid == 0
    assert names(fs, fs.resolve("/loop/inner").ino) == {}
    assert set(names(fs, fs.resolve("/other").ino)) == {b"good"}
    assert fs.read(fs.resolve("/other/good").ino, 0, 10) == b"twin"
    assert f"C inode {twin} " not in text.replace(f"C inode {twin} skipped there", "")


def test_a_deep_tree(client: redis.Redis, prefix: str, c_prefix: str) -> None:
    tree = CTree(client, c_prefix)
    parent = ROOT
    for depth in range(150):
        parent = tree.mkdir(parent, f"d{depth}")
    leaf = tree.create(parent, "leaf")
    tree.write(leaf, b"deep")
    report = migrate(client, ServerSource(client, c_prefix), prefix)
    assert report.problems == [] and report.dirs == 150
    fs = FileSystem(client, prefix)
    path = "/" + "/".join(f"d{d}" for d in range(150)) + "/leaf"
    assert fs.read(fs.resolve(path).ino, 0, 10) == b"deep"


def test_the_new_filesystem_may_take_the_c_prefix(client: redis.Redis,
                                                  c_prefix: str) -> None:
    """Our keys are hash-tagged ({skx}:...), the C ones are not (skx:...): no clash, so
    the mount's default prefix can stay the C daemon's."""
    build_sample(CTree(client, c_prefix))
    report = migrate(client, ServerSource(client, c_prefix), c_prefix)
    assert report.problems == [] and report.files == 3
    fs = FileSystem(client, c_prefix)
    assert fs.read(fs.resolve("/README").ino, 0, 100) == b"hello world\n"


def test_existing_target_and_missing_source_are_refused(client: redis.Redis, prefix: str,
                                                        c_prefix: str) -> None:
    tree = CTree(client, c_prefix)
    tree.create(ROOT, "f")
    FileSystem.mkfs(client, prefix)
    with pytest.raises(FsError) as info:
        migrate(client, ServerSource(client, c_prefix), prefix)
    assert info.value.errno == errno.EEXIST and "already exists" in info.value.strerror
    assert set(names(FileSystem(client, prefix), ROOT_INO)) == set()
    with pytest.raises(FsError) as info:
        migrate(client, ServerSource(client, "nothing-here"), prefix + "x")
    assert info.value.errno == errno.ENOENT
    assert "only the first 8 characters" in info.value.strerror and "'nothing-'" in \
        info.value.strerror
    assert not client.exists("{" + prefix + "x}:sb")
    with pytest.raises(FsError) as info:
        migrate(client, ServerSource(client, c_prefix), "bad name")
    assert info.value.errno == errno.EINVAL


def test_a_failure_midway_leaves_no_target(client: redis.Redis, prefix: str,
                                           c_prefix: str) -> None:
    tree = CTree(client, c_prefix)
    ids = build_sample(tree)

    def truncate_under_us(done: int, total: int, name: str) -> None:
        if name == "blob.bin":  # the C daemon still mounted, truncating (fs_truncate)
            client.delete(tree.key(ids["blob"], "DATA"))

    with pytest.raises(FsError) as info:
        migrate(client, ServerSource(client, c_prefix), prefix, progress=truncate_under_us)
    assert info.value.errno == errno.EIO and "changed while it was copied" in \
        info.value.strerror
    assert list(client.scan_iter(match="{" + prefix + "}:*")) == []
    steps: list[int] = []
    with pytest.raises(FsError) as info:
        migrate(client, ServerSource(client, c_prefix), prefix,
                progress=lambda done, total, name: steps.append(done),
                cancelled=lambda: len(steps) >= 3)
    assert info.value.errno == errno.ECANCELED
    assert list(client.scan_iter(match="{" + prefix + "}:*")) == []


def test_dry_run_writes_nothing(client: redis.Redis, prefix: str, c_prefix: str) -> None:
    build_sample(CTree(client, c_prefix))
    report = migrate(client, ServerSource(client, c_prefix), prefix, dry_run=True)
    assert report.files == 3 and not report.written
    assert "would migrate (dry run)" in report.lines()[0]
    assert not client.exists("{" + prefix + "}:sb")
    migrate(client, ServerSource(client, c_prefix), prefix)
    again = migrate(client, ServerSource(client, c_prefix), prefix, dry_run=True)
    assert again.files == 3  # a dry run may look at a tree already migrated
    with pytest.raises(FsError):
        migrate(client, ServerSource(client, c_prefix), prefix)


def test_from_a_dump_with_the_server_stopped(tmp_path: Path, client: redis.Redis,
                                             prefix: str) -> None:
    with LocalRedis(tmp_path / "old") as old:
        old_client = redis.Redis.from_url(old.url)
        build_sample(CTree(old_client, "skx"))
        old_client.set("unrelated", "key")
        old_client.save()
        old_client.close()
    dump = tmp_path / "old" / "dump.rdb"
    report = migrate(client, DumpSource(dump, "skx"), prefix)
    assert report.problems == [] and (report.files, report.hard_links) == (3, 1)
    assert "in " + str(dump) in report.source
    fs = FileSystem(client, prefix)
    blob = fs.resolve("/docs/sub/blob.bin")
    assert bytes(fs.read(blob.ino, 0, len(BINARY))) == BINARY and blob.nlink == 2
    assert fs.readlink(fs.resolve("/to-readme").ino) == b"README"
    broken = tmp_path / "broken.rdb"
    broken.write_bytes(dump.read_bytes()[:40])
    with pytest.raises(FsError) as info:
        migrate(client, DumpSource(broken, "skx"), prefix + "b")
    assert info.value.errno == errno.EINVAL and "cannot read" in info.value.strerror
    with pytest.raises(FsError):
        migrate(client, DumpSource(tmp_path / "missing.rdb", "skx"), prefix + "b")
    assert not client.exists("{" + prefix + "b}:sb")
