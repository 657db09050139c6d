"""redisfs-migrate: exit codes, messages and the printed report, run as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import redis
from legacy_tree import ROOT, CTree

from redisfs_tui.core import FileSystem
from redisfs_tui.core.local_server import LocalRedis


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redisfs_tui.cli.migrate", *args],
                          capture_output=True, text=True, timeout=120)


def small_tree(client: redis.Redis, prefix: str) -> None:
    tree = CTree(client, prefix)
    docs = tree.mkdir(ROOT, "docs")
    note = tree.create(docs, "note.txt")
    tree.write(note, b"from C")
    client.sadd(f"{prefix}:DIRENT:{docs}", 999)  # dangling


def test_migrates_and_prints_the_report(redis_server: LocalRedis, client: redis.Redis,
                                        prefix: str) -> None:
    small_tree(client, prefix + "c")
    dry = run("--url", redis_server.url, f"--from-legacy={prefix}c", f"--to={prefix}",
              "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would migrate (dry run)" in dry.stdout and not client.exists(
        "{" + prefix + "}:sb")
    done = run("--url", redis_server.url, f"--from-legacy={prefix}c", f"--to={prefix}")
    assert done.returncode == 0, done.stderr
    assert "1 directories, 1 files, 0 symlinks, 0 hard links, 6 bytes" in done.stdout
    assert "dangling entry: C inode 999 in '/docs' has no keys" in done.stdout
    fs = FileSystem(client, prefix)
    assert fs.read(fs.resolve("/docs/note.txt").ino, 0, 10) == b"from C"
    again = run("--url", redis_server.url, f"--from-legacy={prefix}c", f"--to={prefix}")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_usage_errors_exit_2(redis_server: LocalRedis) -> None:
    for args in ([f"--url={redis_server.url}", "--to=x"],  # no source
                 [f"--url={redis_server.url}", "--from-legacy=skx"],  # no target
                 [f"--url={redis_server.url}", "--from-legacy=skx", "--to=bad name"],
                 ["--url=http://nowhere", "--from-legacy=skx", "--to=x"],
                 ["--from-legacy=", "--to=x", f"--url={redis_server.url}"]):
        done = run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.strip()


def test_failures_exit_1(redis_server: LocalRedis, tmp_path: Path, prefix: str) -> None:
    nothing = run("--url", redis_server.url, "--from-legacy=absent", f"--to={prefix}")
    assert nothing.returncode == 1 and "no key matches 'absent:*'" in nothing.stderr
    junk = tmp_path / "junk.rdb"
    junk.write_bytes(b"not a dump at all")
    for path in (junk, tmp_path / "missing.rdb"):
        done = run("--url", redis_server.url, "--from-legacy=skx", f"--to={prefix}",
                   f"--rdb={path}")
        assert done.returncode == 1 and "cannot read" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_from_a_dump_file(redis_server: LocalRedis, client: redis.Redis, tmp_path: Path,
                          prefix: str) -> None:
    with LocalRedis(tmp_path / "old") as old:
        old_client = redis.Redis.from_url(old.url)
        small_tree(old_client, "skx")
        old_client.save()
        old_client.close()
    done = run("--url", redis_server.url, "--from-legacy=skx", f"--to={prefix}",
               f"--rdb={tmp_path / 'old' / 'dump.rdb'}")
    assert done.returncode == 0, done.stderr
    assert "in " + str(tmp_path / "old" / "dump.rdb") in done.stdout
    fs = FileSystem(client, prefix)
    assert fs.read(fs.resolve("/docs/note.txt").ino, 0, 10) == b"from C"
