"""With no server named, `redisfs` uses the same default as `redisfs-ui`: localhost:6379
if it answers, else the private embedded redis-server under the XDG directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from redisfs_tui.core import FileSystem
from redisfs_tui.core.connection import DEFAULT_URL
from redisfs_tui.core.embedded import answers, ensure_embedded_server, stop_embedded_server


def test_daemon_without_server_flags_uses_the_embedded_server(tmp_path: Path) -> None:
    assert not answers(DEFAULT_URL), "this test needs nothing listening on localhost:6379"
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_RUNTIME_DIR=str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "redisfs_tui.cli.daemon", "--mkfs", "--prefix=dflt",
             f"--mount={mountpoint}", f"--log-file={tmp_path / 'daemon.log'}"],
            env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        (mountpoint / "hello.txt").write_text("from the default server")
        os.sync()
    finally:
        subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True, timeout=30)
    try:
        server = ensure_embedded_server(tmp_path / "data" / "redisfs",
                                        tmp_path / "run" / "redisfs")
        assert not server.started  # the daemon started it; we only reuse it
        fs = FileSystem(redis.Redis.from_url(server.url), "dflt", read_only=True)
        ino = fs.resolve("/hello.txt").ino
        assert fs.read(ino, 0, 100) == b"from the default server"
        assert list((tmp_path / "data" / "redisfs").glob("appendonly*"))  # AOF is on
    finally:
        assert stop_embedded_server(tmp_path / "run" / "redisfs")
