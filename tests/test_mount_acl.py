"""Mounting with a Redis user that may do little: what works, and what is refused early."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mount_fixtures
import redis
from mount_fixtures import Mounter

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.mount import spawn

private_redis = mount_fixtures.private_redis  # a fixture (an imported name would trip F811)

MINIMAL = ["on", ">pw", "~{acl}:*", "resetchannels", "-@all", "+@read", "+@connection"]
BIG = 3 * 1024 * 1024 + 12345  # 25 blocks of 128 KiB: several 1 MiB read windows


def _setup(server) -> tuple[redis.Redis, dict[str, bytes]]:
    admin = redis.Redis.from_url(server.url)
    fs = FileSystem.mkfs(admin, "acl", uid=0, gid=0)
    sub = fs.mkdir(ROOT_INO, "sub", 0o755).ino
    contents = {"big.bin": os.urandom(BIG), "sub/text.txt": b"line\n" * 300_000,
                "small": b"tiny"}
    for path, data in contents.items():
        parent = sub if path.startswith("sub/") else ROOT_INO
        ino = fs.create(parent, path.rsplit("/", 1)[-1], 0o644).ino
        fs.write(ino, 0, data)
        fs.setxattr(ino, "user.tag", path.encode())
        fs.release(ino)
    fs.symlink(ROOT_INO, "link", "sub/text.txt")
    pool = "~{pool:" + fs.pool + ".*}:*"  # format 2: the data blocks
    admin.execute_command("ACL", "SETUSER", "reader", *MINIMAL, pool)
    admin.execute_command("ACL", "LOG", "RESET")
    return admin, contents


def _acl_log(admin: redis.Redis) -> list[tuple[str, str, int]]:
    return sorted((e[b"username"].decode(), e[b"object"].decode(), int(e[b"count"]))
                  for e in admin.execute_command("ACL", "LOG"))


def test_read_only_mount_with_only_read_and_connection(private_redis, tmp_path: Path):
    """+@read +@connection is enough for a read-only mount: no MULTI, no scripts, no
    INFO.  The only commands ever refused are the start-up probe for maxmemory-policy
    (INFO, then CONFIG GET); listing, reading, stat, xattrs and df add nothing."""
    server = private_redis("acl")
    admin, contents = _setup(server)
    pw = tmp_path / "pw"
    pw.write_text("pw")
    m = Mounter(server.url, tmp_path)
    try:
        mount = m.mount("acl", "--read-only", "--username", "reader", "--password-file",
                        str(pw), "--cache-ttl", "0", "--attr-timeout", "0", "--entry-timeout",
                        "0")
        assert "cannot read maxmemory-policy" in mount.log_text()
        at_start = _acl_log(admin)
        assert {(user, obj) for user, obj, _ in at_start} <= {("reader", "info"),
                                                               ("reader", "config|get")}
        listing = subprocess.run(["ls", "-lRa", str(mount.path)], check=True,
                                 capture_output=True, text=True).stdout
        assert "big.bin" in listing and "text.txt" in listing and "link ->" in listing
        for path, data in contents.items():
            shown = subprocess.run(["cat", str(mount.path / path)], check=True,
                                   capture_output=True).stdout
            assert shown == data, path
            size = subprocess.run(["stat", "-c", "%s", str(mount.path / path)], check=True,
                                  capture_output=True, text=True).stdout
            assert int(size) == len(data)
            tag = subprocess.run(["getfattr", "-n", "user.tag", "--only-values",
                                  str(mount.path / path)], check=True, capture_output=True)
            assert tag.stdout == path.encode()
        assert (mount.path / "link").read_bytes() == contents["sub/text.txt"]
        df = subprocess.run(["df", str(mount.path)], capture_output=True, text=True)
        assert df.returncode == 0 and "acl@" in df.stdout, df.stderr
        assert os.statvfs(mount.path).f_blocks > 0
        assert _acl_log(admin) == at_start  # nothing was refused after the start
    finally:
        m.cleanup()


def test_read_write_mount_names_the_missing_permission(private_redis, tmp_path: Path):
    """Refused before mounting, with what to grant: first the script call itself, then
    the write commands the scripts run."""
    server = private_redis("acl")
    admin, _ = _setup(server)
    admin.execute_command("ACL", "SETUSER", "scripter", *MINIMAL, "+@scripting",
                          "~{pool:" + FileSystem(admin, "acl").pool + ".*}:*")
    target = tmp_path / "mnt"
    target.mkdir()
    cases = {"reader": "user reader may not run EVALSHA: grant +@scripting or mount "
                       "--read-only",
             "scripter": "user scripter may not run HSET, HDEL, HINCRBY, DEL, SET, SADD, "
                         "SREM inside the filesystem's scripts: grant +@write +@read or "
                         "mount --read-only"}
    for user, message in cases.items():
        try:
            done = subprocess.run(
                [*spawn.daemon_command(["--url", server.url, "--prefix=acl", "--mount",
                                        str(target), "--username", user, "--foreground"])],
                capture_output=True, text=True, timeout=30, env={**os.environ,
                                                                  "REDISFS_PASSWORD": "pw"})
        finally:
            if spawn.is_mounted(target):  # it mounted after all: clean up
                spawn.unmount(target, lazy=True)
        assert done.returncode == 1, done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr
