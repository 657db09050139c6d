"""Data-loss guards through a real mount: a demoted master and evicting servers."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import mount_fixtures
import pytest
import redis
from mount_fixtures import Mounter, wait_until

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.mount import spawn

private_redis = mount_fixtures.private_redis  # a fixture (an imported name would trip F811)

FAST_SYNC = ["--repl-diskless-sync-delay", "0"]


def _linked(client: redis.Redis) -> bool:
    return client.info("replication").get("master_link_status") == "up"


def test_a_demoted_master_answers_erofs_and_keeps_reading(private_redis, tmp_path: Path):
    """The mounted master becomes a replica under the mount: every change fails with
    EROFS (a buffered write reports it at close), never EIO, and reads go on."""
    a = private_redis("a", extra_args=FAST_SYNC)
    b = private_redis("b", extra_args=FAST_SYNC)
    ca, cb = redis.Redis.from_url(a.url), redis.Redis.from_url(b.url)
    fs = FileSystem.mkfs(ca, "dm", uid=0, gid=0)
    data = os.urandom(300_000)
    for name in ("kept", "victim"):
        ino = fs.create(ROOT_INO, name, 0o666).ino
        fs.write(ino, 0, data)
        fs.release(ino)
    m = Mounter(a.url, tmp_path)
    try:
        mount = m.mount(fs.prefix)
        for name in ("kept", "victim"):  # in the kernel's page cache from now on
            assert (mount.path / name).read_bytes() == data
        handle = open(mount.path / "victim", "r+b")  # noqa: SIM115 -- opened before, closed after
        cb.replicaof("127.0.0.1", a.port)  # B gets the data, then takes over
        wait_until(lambda: _linked(cb), timeout=20)
        assert ca.execute_command("WAIT", 1, 10000) == 1
        cb.replicaof("NO", "ONE")
        ca.replicaof("127.0.0.1", b.port)
        wait_until(lambda: _linked(ca), timeout=20)
        handle.write(b"lost")  # buffered by the mount: close() has to store it
        with pytest.raises(OSError) as closing:
            handle.close()
        assert closing.value.errno == errno.EROFS
        for attempt in (lambda: (mount.path / "new").write_bytes(b"x"),
                        lambda: open(mount.path / "kept", "r+b").close(),
                        lambda: os.mkdir(mount.path / "dir"),
                        lambda: os.chmod(mount.path / "kept", 0o600)):
            with pytest.raises(OSError) as exc:
                attempt()
            assert exc.value.errno == errno.EROFS, exc.value
        assert (mount.path / "kept").read_bytes() == data
        assert (mount.path / "victim").read_bytes() == data  # not the refused bytes
        assert sorted(os.listdir(mount.path)) == ["kept", "victim"]
        assert fs.read(fs.resolve("/victim").ino, 0, 4) == data[:4]  # nothing half-stored
    finally:
        m.cleanup()


LRU = ["--maxmemory-policy", "allkeys-lru"]
REFUSAL = ("maxmemory-policy is allkeys-lru: Redis may evict file data; set it to noeviction "
           "(CONFIG SET maxmemory-policy noeviction) or pass --allow-eviction")


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", f"redisfs_tui.cli.{module}", *args],
                          capture_output=True, text=True, timeout=30)


def test_redisfs_refuses_an_evicting_server_unless_allowed(private_redis, tmp_path: Path):
    server = private_redis("lru", extra_args=LRU)
    FileSystem.mkfs(redis.Redis.from_url(server.url), "ev", uid=0, gid=0)
    target = tmp_path / "mnt"
    target.mkdir()
    for extra in ([], ["--mkfs", "--prefix=fresh"]):
        try:
            refused = _run("daemon", "--url", server.url, "--prefix=ev", "--mount", str(target),
                           "--foreground", *extra)
        finally:
            if spawn.is_mounted(target):  # it mounted after all (and was killed): clean up
                spawn.unmount(target, lazy=True)
        assert refused.returncode == 1, refused.stderr
        assert REFUSAL in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not redis.Redis.from_url(server.url).exists("{fresh}:sb")  # --mkfs made nothing
    m = Mounter(server.url, tmp_path)
    try:
        allowed = m.mount("ev", "--allow-eviction")
        (allowed.path / "f").write_text("stored anyway")
        assert "WARNING" in allowed.log_text() and "allkeys-lru" in allowed.log_text()
        reading = m.mount("ev", "--read-only")  # a read-only mount is only warned
        assert (reading.path / "f").read_text() == "stored anyway"
        assert "may evict file data" in reading.log_text()
    finally:
        m.cleanup()


def test_snapshot_and_ui_refuse_an_evicting_server_unless_allowed(private_redis):
    server = private_redis("lru", extra_args=LRU)
    FileSystem.mkfs(redis.Redis.from_url(server.url), "ev", uid=0, gid=0)
    url = f"--url={server.url}"
    refused = _run("snapshot", url, "--from=ev", "--to=ev.copy")
    assert refused.returncode == 1 and REFUSAL in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    allowed = _run("snapshot", url, "--from=ev", "--to=ev.copy", "--allow-eviction")
    assert allowed.returncode == 0, allowed.stderr
    assert "WARNING" in allowed.stderr and "allkeys-lru" in allowed.stderr
    listed = _run("snapshot", url, "--list")  # only reads: warned, not refused
    assert listed.returncode == 0 and "ev.copy" in listed.stdout
    assert "may evict file data" in listed.stderr
    ui = _run("ui", url)
    assert ui.returncode == 1 and REFUSAL in ui.stderr, ui.stderr


UNPERSISTED = "has no persistence"


def test_a_server_without_persistence_is_named_at_mount(private_redis, tmp_path: Path):
    """A Redis with neither RDB save points nor AOF loses every filesystem at its next
    restart: the daemon says so when it mounts read-write, and not when it is safe."""
    servers = {"bare": private_redis("bare"),  # the fixtures' default: no save, no AOF
               "saving": private_redis("saving", save="3600 1"),
               "aof": private_redis("aof", appendonly=True)}
    logs = {}
    for name, server in servers.items():
        FileSystem.mkfs(redis.Redis.from_url(server.url), "p", uid=0, gid=0)
        m = Mounter(server.url, tmp_path / name)
        try:
            mount = m.mount("p")
            (mount.path / "f").write_text("x")
            logs[name] = mount.log_text()
            if name == "bare":
                reader = m.mount("p", "--read-only")  # it changes nothing: not warned
                assert (reader.path / "f").read_text() == "x"
                assert UNPERSISTED not in reader.log_text()
        finally:
            m.cleanup()
    assert UNPERSISTED in logs["bare"] and "WARNING" in logs["bare"], logs["bare"]
    assert "restart" in logs["bare"] and "appendonly yes" in logs["bare"]
    assert UNPERSISTED not in logs["saving"], logs["saving"]
    assert UNPERSISTED not in logs["aof"], logs["aof"]
