"""`redisfs-ui --rdb FILE`: a dump file opened offline in a throw-away redis-server."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import redis

from redisfs_tui.cli import ui as ui_cli
from redisfs_tui.core import ROOT_INO, FileSystem, rdb_io


def test_open_rdb_offline_serves_a_copy(client: redis.Redis, fs: FileSystem,
                                        tmp_path: Path) -> None:
    f = fs.create(ROOT_INO, "kept.txt", 0o644)
    fs.write(f.ino, 0, b"inside the dump")
    fs.release(f.ino)
    dump = tmp_path / "dump.rdb"
    rdb_io.export_filesystem(client, fs.prefix, dump)
    before = dump.read_bytes()
    server = ui_cli._open_rdb_offline(str(dump))
    try:
        offline = FileSystem(redis.Redis.from_url(server.url), fs.prefix)
        ino = offline.resolve("/kept.txt").ino
        assert offline.read(ino, 0, 100) == b"inside the dump"
        offline.unlink(ROOT_INO, "kept.txt")  # changes stay in the throw-away copy
    finally:
        server.stop()
        shutil.rmtree(server.data_dir)
    assert dump.read_bytes() == before


def test_damaged_rdb_is_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rdb"
    bad.write_bytes(b"REDIS0010\xfa\x05")
    done = subprocess.run([sys.executable, "-m", "redisfs_tui.cli.ui", "--rdb", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot open" in done.stderr and "unexpected end of file" in done.stderr
    assert "Traceback" not in done.stderr
    missing = subprocess.run([sys.executable, "-m", "redisfs_tui.cli.ui", "--rdb",
                              str(tmp_path / "nope.rdb")], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 2 and "No such file" in missing.stderr
