"""Redis Cluster: a 3-master loopback cluster, reached through a node that does NOT own
the filesystem's slot (before the cluster client this failed with "Redis error: MOVED")."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_fixtures import Cluster, redis_cluster, start_cluster  # noqa: F401
from helpers_ui import make_app, run, text_of, wait_for
from mount_fixtures import Mounter
from redis.cluster import key_slot
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from redisfs_tui.core import ROOT_INO, FileSystem, FsError, ServerSpec, connect, registry
from redisfs_tui.core import snapshot as snap
from redisfs_tui.core.cluster import is_cluster
from redisfs_tui.core.fsck import check, repair
from redisfs_tui.core.guards import read_eviction_policy
from redisfs_tui.core.keys import Keys
from redisfs_tui.core.rdb_io import export_filesystem, import_filesystem
from redisfs_tui.core.search import find_names


def table_column(app, selector: str) -> list[str]:
    table = app.query_one(selector, DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def _far_url(cluster: Cluster, prefix: str) -> str:
    """A plain redis:// URL of a node that does not own ``prefix``'s slot."""
    return cluster.url(cluster.not_owner(Keys(prefix).superblock))


def _snapshot_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redisfs_tui.cli.snapshot", *args],
                          capture_output=True, text=True, timeout=60)


def test_core_operations_through_a_node_that_does_not_own_the_slot(
        redis_cluster: Cluster) -> None:  # noqa: F811
    client = connect(ServerSpec.from_parts(url=_far_url(redis_cluster, "c1")))
    assert is_cluster(client)
    fs = FileSystem.mkfs(client, "c1", uid=0, gid=0)
    docs = fs.mkdir(ROOT_INO, "docs", 0o755)
    f = fs.create(docs.ino, "hello.txt", 0o644)
    payload = bytes(range(256)) * 2000  # several blocks
    fs.write(f.ino, 0, payload)
    fs.write(f.ino, 10, b"patched")  # a partial-block compare-and-set write
    fs.release(f.ino)
    expected = payload[:10] + b"patched" + payload[17:]
    assert bytes(fs.read(f.ino, 0, len(payload))) == expected
    fs.rename(docs.ino, "hello.txt", ROOT_INO, "moved.txt")
    assert fs.resolve("/moved.txt").size == len(payload)
    with pytest.raises(FsError):
        fs.resolve("/docs/hello.txt")
    assert fs.statfs()["used_memory"] > 0  # INFO of the node owning the filesystem
    assert [found.name for page in find_names(fs, "moved") for found in page] == [b"moved.txt"]
    assert read_eviction_policy(client) == "noeviction"
    far = redis_cluster.client(2)
    far.config_set("maxmemory-policy", "allkeys-lru")  # one master of three may evict
    try:
        assert read_eviction_policy(client) == "allkeys-lru"
    finally:
        far.config_set("maxmemory-policy", "noeviction")
    info = registry.server_info(client)
    assert "cluster of 3 masters" in info.role and info.used_memory > 0


def test_one_filesystems_data_spreads_over_every_master(redis_cluster: Cluster) -> None:  # noqa: F811
    """Pool blocks carry their own hash tag: a file's blocks land on all masters, while its
    metadata stays in the filesystem's slot; reads, overwrites and truncates still work."""
    client = connect(ServerSpec.from_parts(url=_far_url(redis_cluster, "c9")))
    fs = FileSystem.mkfs(client, "c9", uid=0, gid=0)
    f = fs.create(ROOT_INO, "big", 0o644)
    payload = bytes(range(251)) * 21_000  # 5.3 MB: 41 blocks of 128 KiB
    fs.write(f.ino, 0, payload)
    pool = client.hget(Keys("c9").superblock, "pool").decode()

    def on_master(i: int) -> int:
        return sum(1 for _ in redis_cluster.client(i).scan_iter(match=f"{{pool:{pool}.*"))

    # 41 blocks over 256 tags: a master holds none with probability 3 * (2/3)**41 < 1e-7
    assert all(on_master(i) for i in range(3)), [on_master(i) for i in range(3)]
    fs.write(f.ino, 5, b"over")  # an overwrite frees the old block on its own node
    fs.truncate(f.ino, 1_000_000)  # a new tail block, the rest dropped
    expected = (payload[:5] + b"over" + payload[9:])[:1_000_000]
    assert bytes(fs.read(f.ino, 0, 2_000_000)) == expected
    # the overwritten and truncated blocks were freed on their nodes: none left over
    assert sum(on_master(i) for i in range(3)) == client.hlen(Keys("c9").block_map(f.ino))


def test_a_full_master_fails_the_write_and_leaves_no_half(redis_cluster: Cluster) -> None:  # noqa: F811
    """A block SET refused by a full master (another slot than the metadata) must fail the
    write with ENOSPC before the commit script runs: the file keeps its old contents and
    the blocks stored on the other masters are deleted again."""
    client = connect(ServerSpec.from_parts(url=_far_url(redis_cluster, "c10")))
    fs = FileSystem.mkfs(client, "c10", uid=0, gid=0)
    f = fs.create(ROOT_INO, "f", 0o644)
    fs.write(f.ino, 0, b"before")
    pool = client.hget(Keys("c10").superblock, "pool").decode()
    full = redis_cluster.not_owner(Keys("c10").superblock)
    node = redis_cluster.client(full)
    node.config_set("maxmemory", 1)  # noeviction: every SET there answers OOM
    try:
        with pytest.raises(FsError) as refused:
            fs.write(f.ino, 0, os.urandom(41 * fs.block_size))  # some blocks land there
        assert refused.value.errno == errno.ENOSPC
    finally:
        node.config_set("maxmemory", 0)
    assert bytes(fs.read(f.ino, 0, 100)) == b"before"
    left = sum(1 for i in range(3)
               for _ in redis_cluster.client(i).scan_iter(match=f"{{pool:{pool}.*"))
    assert left == client.hlen(Keys("c10").block_map(f.ino)) == 1


def test_snapshot_is_refused_with_a_clear_message(redis_cluster: Cluster) -> None:  # noqa: F811
    url = _far_url(redis_cluster, "c2")
    FileSystem.mkfs(connect(ServerSpec.from_parts(url=url)), "c2", uid=0, gid=0)
    client = connect(ServerSpec.from_parts(url=url))
    # a target in another slot: one script cannot touch both
    target = next(f"c2.snap{i}" for i in range(100)
                  if client.keyslot(Keys(f"c2.snap{i}").superblock)
                  != client.keyslot(Keys("c2").superblock))
    with pytest.raises(FsError, match="not possible on Redis Cluster"):
        snap.snapshot(client, "c2", target)
    result = _snapshot_cli("--url", url, "--from", "c2", "--to", target)
    assert result.returncode == 1, result
    assert "not possible on Redis Cluster" in result.stderr
    assert "Traceback" not in result.stderr
    assert not client.exists(Keys(target).superblock)


def test_list_shows_filesystems_of_every_master(redis_cluster: Cluster) -> None:  # noqa: F811
    client = connect(ServerSpec.from_parts(url=redis_cluster.url(0)))
    names = [f"spread{i}" for i in range(12)]
    for name in names:
        FileSystem.mkfs(client, name, uid=0, gid=0)
    owners = {redis_cluster.owner(Keys(name).superblock) for name in names}
    assert owners == {0, 1, 2}  # the test means something only if they are spread
    for node in range(3):  # whichever node the URL names, --list sees them all
        result = _snapshot_cli("--url", redis_cluster.url(node), "--list")
        assert result.returncode == 0, result.stderr
        listed = {line.split("\t")[0] for line in result.stdout.splitlines()}
        assert set(names) <= listed
    # the explicit scheme with several seed nodes, one of them dead, works as well
    seeds = f"redis+cluster://127.0.0.1:1,127.0.0.1:{redis_cluster.nodes[2].port}"
    result = _snapshot_cli("--url", seeds, "--list")
    assert result.returncode == 0, result.stderr
    assert set(names) <= {line.split("\t")[0] for line in result.stdout.splitlines()}


def test_fuse_mount_on_the_cluster(redis_cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    url = _far_url(redis_cluster, "cmount")
    FileSystem.mkfs(connect(ServerSpec.from_parts(url=url)), "cmount",
                    uid=0, gid=0).chmod(ROOT_INO, 0o777)
    mounter = Mounter(url, tmp_path)
    try:
        mount = mounter.mount("cmount")
        root = mount.path
        (root / "dir").mkdir()
        data = bytes(range(256)) * 4096  # 1 MiB: eight blocks
        (root / "dir" / "big").write_bytes(data)
        for i in range(20):
            (root / "dir" / f"small{i}").write_text(f"file {i}\n")
        (root / "dir" / "small0").rename(root / "renamed")
        (root / "dir" / "small1").unlink()
        assert (root / "dir" / "big").read_bytes() == data
        assert sorted(p.name for p in (root / "dir").iterdir()) == \
            sorted(["big"] + [f"small{i}" for i in range(2, 20)])
        assert (root / "renamed").read_text() == "file 0\n"
        subprocess.run(["df", str(root)], check=True, capture_output=True, timeout=30)
        # what the mount wrote is in Redis, read through another cluster client
        fs = FileSystem(connect(ServerSpec.from_parts(url=redis_cluster.url(0))), "cmount")
        assert fs.resolve("/dir/big").size == len(data)
        assert mount.stop() == 0
    finally:
        mounter.cleanup()


def test_fsck_and_export_on_the_cluster(redis_cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    client = connect(ServerSpec.from_parts(url=_far_url(redis_cluster, "cfsck")))
    fs = FileSystem.mkfs(client, "cfsck", uid=0, gid=0)
    f = fs.create(ROOT_INO, "a", 0o644)
    fs.write(f.ino, 0, b"x" * 300_000)
    fs.release(f.ino)
    assert check(fs) == []
    assert export_filesystem(client, "cfsck", tmp_path / "c.rdb") > 0
    # --import checks for stray keys on every master, then writes in one MULTI/EXEC
    import_filesystem(client, tmp_path / "c.rdb", "cfsck", target="cfsck.copy")
    copy = FileSystem(client, "cfsck.copy")
    assert bytes(copy.read(copy.resolve("/a").ino, 0, 10)) == b"x" * 10
    with pytest.raises(FsError, match="already exists"):
        import_filesystem(client, tmp_path / "c.rdb", "cfsck", target="cfsck.copy")
    client.hset(fs.keys.inode(f.ino), "nlink", 5)  # damage fsck must find on its master
    problems = check(fs)
    assert any("nlink" in str(p) for p in problems)
    client.delete(fs.keys.inode(f.ino))  # and a dangling entry
    repair(fs, check(fs))
    assert check(fs) == []
    fs.resolve("/")
    assert registry.delete_filesystem(client, "cfsck.copy") > 0
    assert not list(client.scan_iter(match=Keys("cfsck.copy").all_keys_pattern()))


def test_ui_server_and_filesystems_views_on_the_cluster(redis_cluster: Cluster) -> None:  # noqa: F811
    url = redis_cluster.url(0)
    client = connect(ServerSpec.from_parts(url=url))
    names = [f"ui{i}" for i in range(6)]
    for name in names:
        FileSystem.mkfs(client, name, uid=0, gid=0)
    app = make_app(url, client, tab="server")

    async def scenario(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: "cluster of 3 masters"
                       in text_of(app.query_one("#server-info", Static)))
        await pilot.press("2")
        await wait_for(pilot, lambda: set(names) <= set(table_column(app, "#fs-table")))

    run(app, scenario)


def test_cluster_with_a_password_in_the_url(tmp_path: Path) -> None:
    """A password given in a redis:// URL goes on to every node the cluster client finds
    (it used to reach only the first node); a wrong one is refused without showing it."""
    cluster = start_cluster(tmp_path / "pw", password="s3cret")
    try:
        node = cluster.nodes[cluster.not_owner(Keys("cpw").superblock)]
        client = connect(ServerSpec.from_parts(url=f"redis://:s3cret@127.0.0.1:{node.port}/0"))
        assert is_cluster(client)
        fs = FileSystem.mkfs(client, "cpw", uid=0, gid=0)
        assert fs.mkdir(ROOT_INO, "d", 0o755).ino > 1
        assert [s.prefix for s in registry.list_filesystems(client)] == ["cpw"]
        result = _snapshot_cli("--url", f"redis://:wrong@127.0.0.1:{node.port}/0", "--list")
        assert result.returncode != 0 and "wrong" not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr
    finally:
        cluster.stop()


def _move_slot(cluster: Cluster, key: str, to: int) -> None:
    """Migrate ``key``'s slot with all its keys to node ``to`` (what redis-cli --cluster
    reshard does), so clients that cached the old owner get MOVED."""
    slot = key_slot(key.encode())
    src, dst = cluster.client(cluster.owner(key)), cluster.client(to)
    src_id, dst_id = src.cluster("myid"), dst.cluster("myid")
    src_id = src_id.decode() if isinstance(src_id, bytes) else src_id
    dst_id = dst_id.decode() if isinstance(dst_id, bytes) else dst_id
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", "127.0.0.1", cluster.nodes[to].port, "", 0, 5000,
                            "KEYS", *keys)
    for index in range(len(cluster.nodes)):
        cluster.client(index).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)


def test_calls_follow_a_slot_moved_under_a_live_filesystem(
        redis_cluster: Cluster) -> None:  # noqa: F811
    """Scripts run on connections each thread keeps per node; when the slot moves, the
    MOVED reply hands the call to the cluster client, and later calls go to the new
    owner."""
    sb = Keys("cmoved").superblock
    client = connect(ServerSpec.from_parts(url=redis_cluster.url(0)))
    fs = FileSystem.mkfs(client, "cmoved", uid=0, gid=0)
    before = fs.create(ROOT_INO, "before", 0o644)
    fs.write(before.ino, 0, b"old owner")
    fs.release(before.ino)
    new_owner = redis_cluster.not_owner(sb)
    _move_slot(redis_cluster, sb, new_owner)
    after = fs.create(ROOT_INO, "after", 0o644)  # MOVED, then the new owner
    fs.write(after.ino, 0, b"new owner")
    fs.release(after.ino)
    assert fs.lookup(ROOT_INO, "after").size == 9
    assert bytes(fs.read(before.ino, 0, 9)) == b"old owner"
    assert redis_cluster.client(new_owner).exists(sb, fs.keys.inode(after.ino)) == 2


def test_a_single_server_stays_a_plain_client(redis_server, prefix: str) -> None:
    """Detection must not change the client: HELLO on a pooled connection made redis-py
    8.1 return HGETALL as a list, and FileSystem() failed on the connected client."""
    client = connect(ServerSpec.from_parts(url=redis_server.url))
    assert not is_cluster(client)
    fs = FileSystem.mkfs(client, prefix, uid=0, gid=0)
    assert isinstance(client.hgetall(fs.keys.superblock), dict)
    assert FileSystem(client, prefix).getattr(ROOT_INO).ino == ROOT_INO
