"""Several mounts, replicas, a read-only ACL user and a Redis restart under a live mount."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from pathlib import Path

import mount_fixtures
import pytest
import redis
from mount_fixtures import Mounter, wait_until

from redisfs_tui.core import ROOT_INO, FileSystem, fsck
from redisfs_tui.core.local_server import LocalRedis

# entry/attr timeout + the mount's cache TTL (defaults), plus slack for a loaded machine
VISIBLE_WITHIN = 2.0 + 2.0

# fixtures of mount_fixtures used here (imported names would trip F811)
mounter = mount_fixtures.mounter
private_redis = mount_fixtures.private_redis


def test_two_mounts_see_each_others_changes(mounter: Mounter, fs: FileSystem):
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    os.listdir(b.path)  # b has the (empty) listing and root attributes cached
    (a.path / "from-a").write_text("one")
    took = wait_until(lambda: (b.path / "from-a").exists(), timeout=VISIBLE_WITHIN)
    assert (b.path / "from-a").read_text() == "one"
    (a.path / "from-a").write_text("two, longer")  # new content: close-to-open
    wait_until(lambda: (b.path / "from-a").read_text() == "two, longer", timeout=VISIBLE_WITHIN)
    os.rename(b.path / "from-a", b.path / "renamed-by-b")
    wait_until(lambda: sorted(os.listdir(a.path)) == ["renamed-by-b"], timeout=VISIBLE_WITHIN)
    os.chmod(b.path / "renamed-by-b", 0o600)
    wait_until(lambda: (a.path / "renamed-by-b").stat().st_mode & 0o777 == 0o600,
               timeout=VISIBLE_WITHIN)
    os.unlink(a.path / "renamed-by-b")
    wait_until(lambda: not (b.path / "renamed-by-b").exists(), timeout=VISIBLE_WITHIN)
    assert took < VISIBLE_WITHIN


def test_replica_is_mounted_read_only_and_follows_the_master(private_redis, tmp_path: Path):
    master = private_redis("master", extra_args=["--repl-diskless-sync-delay", "0"])
    replica = private_redis("replica", extra_args=["--replicaof", "127.0.0.1", str(master.port)])
    admin = redis.Redis.from_url(master.url)
    follower = redis.Redis.from_url(replica.url)
    wait_until(lambda: follower.info("replication").get("master_link_status") == "up",
               timeout=20)
    fs = FileSystem.mkfs(admin, "rep", uid=0, gid=0)
    ino = fs.create(ROOT_INO, "on-master", 0o644).ino
    fs.write(ino, 0, b"replicated")
    fs.release(ino)
    assert admin.execute_command("WAIT", 1, 10000) == 1
    m = Mounter(replica.url, tmp_path)
    try:
        mount = m.mount("rep")  # no --read-only: the daemon finds out by itself
        assert "read-only replica: mounting read-only" in mount.log_text()
        assert (mount.path / "on-master").read_text() == "replicated"
        for attempt in (lambda: (mount.path / "new").write_text("x"),
                        lambda: os.mkdir(mount.path / "dir"),
                        lambda: os.unlink(mount.path / "on-master")):
            with pytest.raises(OSError) as exc:
                attempt()
            assert exc.value.errno == errno.EROFS
        fs.mkdir(ROOT_INO, "later", 0o755)
        wait_until(lambda: (mount.path / "later").is_dir(), timeout=VISIBLE_WITHIN)
    finally:
        m.cleanup()


READER_ACL = ["on", ">reader-pw", "~*", "&*", "resetchannels", "-@all", "+@read",
              "+@connection", "+multi", "+exec", "+info", "+eval_ro", "+evalsha_ro"]


def test_read_only_mount_sends_no_write_command(private_redis, tmp_path: Path):
    """A user that may only read mounts, lists, reads, stats: no command with the
    write flag reaches the server, and the ACL never had to refuse anything.  (This user
    may run INFO, so df shows Redis memory and the policy check reads its answer.)"""
    server = private_redis("acl")
    admin = redis.Redis.from_url(server.url)
    fs = FileSystem.mkfs(admin, "ro", uid=0, gid=0)
    sub = fs.mkdir(ROOT_INO, "sub", 0o755).ino
    for name, parent in (("a.txt", ROOT_INO), ("b.txt", sub)):
        ino = fs.create(parent, name, 0o644).ino
        fs.write(ino, 0, name.encode() * 1000)
        fs.setxattr(ino, "user.tag", b"v")
        fs.release(ino)
    fs.symlink(ROOT_INO, "link", "a.txt")
    admin.execute_command("ACL", "SETUSER", "reader", *READER_ACL)
    admin.execute_command("ACL", "LOG", "RESET")
    admin.config_resetstat()
    pw = tmp_path / "pw"
    pw.write_text("reader-pw")
    m = Mounter(server.url, tmp_path)
    try:
        mount = m.mount("ro", "--read-only", "--username", "reader", "--password-file", str(pw))
        subprocess.run(["ls", "-lRa", str(mount.path)], check=True, capture_output=True)
        assert (mount.path / "a.txt").read_bytes() == b"a.txt" * 1000
        assert (mount.path / "sub" / "b.txt").read_bytes() == b"b.txt" * 1000
        assert os.readlink(mount.path / "link") == "a.txt"
        assert os.getxattr(mount.path / "a.txt", "user.tag") == b"v"
        assert os.statvfs(mount.path).f_bfree > 0  # INFO allowed: free Redis memory shown
        subprocess.run(["cat", str(mount.path / "a.txt")], check=True, capture_output=True)
        time.sleep(1.2)  # let the kernel and mount caches expire: ask Redis again
        os.stat(mount.path / "sub" / "b.txt")
        with pytest.raises(OSError) as exc:
            (mount.path / "a.txt").write_text("nope")
        assert exc.value.errno == errno.EROFS
    finally:
        m.cleanup()
    stats = admin.info("commandstats")
    called = {name.removeprefix("cmdstat_"): s for name, s in stats.items() if s["calls"]}
    assert "hgetall" in called
    # a read-only mount uses plain commands only (test_mount_acl.py: +@read is enough)
    assert not set(called) & {"evalsha_ro", "eval_ro", "evalsha", "eval", "multi", "exec"}
    mine = {"config|resetstat", "acl|log", "info"}  # this test's own admin commands
    for name in set(called) - mine:
        assert "write" not in _flags(admin, name), f"{name} is a write command"
        assert called[name].get("rejected_calls", 0) == 0, name
    assert admin.execute_command("ACL", "LOG") == []  # nothing was denied


def _flags(admin: redis.Redis, name: str) -> set[str]:
    main, _, sub = name.partition("|")
    reply = admin.execute_command("COMMAND", "INFO", main)
    entry = reply[main] if isinstance(reply, dict) else reply[0]
    if isinstance(entry, dict):
        if sub:
            for child in entry.get("subcommands", []) or []:
                if isinstance(child, dict) and child.get("name") == name:
                    return {f.decode() if isinstance(f, bytes) else f for f in child["flags"]}
        return {f.decode() if isinstance(f, bytes) else f for f in entry.get("flags", [])}
    return {f.decode() if isinstance(f, bytes) else f for f in entry[2]}


def test_redis_restart_under_a_live_mount(private_redis, tmp_path: Path):
    server = private_redis("restart", appendonly=True)
    fs = FileSystem.mkfs(redis.Redis.from_url(server.url), "rs", uid=0, gid=0)
    m = Mounter(server.url, tmp_path)
    try:
        mount = m.mount(fs.prefix, "--timeout", "2")
        (mount.path / "before").write_text("survives")
        server.stop()
        outcome: list[object] = []

        def attempt() -> None:
            try:
                (mount.path / "during").write_text("x")
                outcome.append("succeeded")
            except OSError as exc:
                outcome.append(exc.errno)

        started = time.monotonic()
        worker = threading.Thread(target=attempt)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "a FUSE call hung while Redis was down"
        assert outcome == [errno.EIO]
        assert time.monotonic() - started < 15
        with pytest.raises(OSError) as exc:
            os.listdir(mount.path / "nowhere")
        assert exc.value.errno in (errno.EIO, errno.ENOENT)
        restarted = LocalRedis(server.data_dir, port=server.port, appendonly=True)
        restarted.start()
        try:
            wait_until(lambda: _works(mount.path), timeout=20)
            assert (mount.path / "before").read_text() == "survives"
            (mount.path / "after").write_text("recovered")
            assert sorted(os.listdir(mount.path)) == ["after", "before"]
            assert mount.proc.poll() is None  # the daemon never died
        finally:
            m.cleanup()
            restarted.stop()
    finally:
        m.cleanup()


def _works(path: Path) -> bool:
    try:
        (path / "probe").write_text("p")
        os.unlink(path / "probe")
        return True
    except OSError:
        return False


def test_full_redis_is_enospc_through_the_mount(private_redis, tmp_path: Path):
    """A Redis at maxmemory: copying files in fails with ENOSPC (from write, close or
    fsync, never a silent success); what was stored before stays intact, deleting makes
    room, and nothing is left half-written (fsck finds nothing)."""
    server = private_redis("full", extra_args=["--maxmemory", "4mb",
                                               "--maxmemory-policy", "noeviction"])
    client = redis.Redis.from_url(server.url)
    fs = FileSystem.mkfs(client, "full", uid=0, gid=0)
    m = Mounter(server.url, tmp_path)
    try:
        mount = m.mount(fs.prefix)
        stored: dict[str, bytes] = {}
        failure = None
        for index in range(100):
            data = os.urandom(300_000)  # incompressible
            name = f"f{index}"
            try:
                with open(mount.path / name, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                failure = exc
                break
            stored[name] = data
        assert failure is not None and failure.errno == errno.ENOSPC, failure
        assert 1 <= len(stored) < 100
        for name, data in stored.items():  # everything stored before is intact
            assert (mount.path / name).read_bytes() == data
        for name in list(stored)[: len(stored) // 2 + 1]:  # deleting makes room again
            os.unlink(mount.path / name)
        (mount.path / "after").write_bytes(b"fits again")
        assert (mount.path / "after").read_bytes() == b"fits again"
        m.cleanup()  # unmounted: its open handles are released
        assert fsck.check(FileSystem(client, fs.prefix)) == []
    finally:
        m.cleanup()
