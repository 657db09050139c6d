"""Data-loss guards through a real mount: a demoted master and evicting servers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import mount_fixtures
import pytest
import redis
from mount_fixtures import Mounter, wait_until

from redisfs_tui.core import ROOT_INO, FileSystem

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
        assert (mount.path / "kept").read_bytes() == data
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
        assert sorted(os.listdir(mount.path)) == ["kept", "victim"]
        assert fs.read(fs.resolve("/victim").ino, 0, 4) == data[:4]  # nothing half-stored
    finally:
        m.cleanup()
