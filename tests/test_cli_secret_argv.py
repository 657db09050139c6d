"""redisfs-ui and redisfs-snapshot keep a password given in --url out of their own argv
(/proc/PID/cmdline, ps), as the redisfs daemon does: they re-execute themselves with the
password handed over in a memfd (cli/secret_argv.py)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import mount_fixtures
import redis
from mount_fixtures import wait_until

from redisfs_tui.core import FileSystem
from redisfs_tui.core.rdb_io import export_filesystem

private_redis = mount_fixtures.private_redis  # a fixture (an imported name would trip F811)

PASSWORD = "s3cret-pw-9"
BIN = Path(sys.executable).parent


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def clients(admin: redis.Redis) -> int:
    return len(admin.client_list())


def test_ui_scrubs_a_password_given_in_the_url(private_redis):
    server = private_redis("ui-auth", extra_args=["--requirepass", PASSWORD])
    admin = redis.Redis.from_url(server.url, password=PASSWORD)
    FileSystem.mkfs(admin, "auth")
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    before = clients(admin)
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    env.pop("REDISFS_PASSWORD", None)
    proc = subprocess.Popen([str(BIN / "redisfs-ui"), f"--url={url}", "--prefix", "auth"],
                            stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    output: list[bytes] = []

    def drain() -> None:  # the app draws continuously: keep the pty from filling up
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            output.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        # connected with the password (so any re-execution is over)
        wait_until(lambda: clients(admin) > before or proc.poll() is not None, timeout=20)
        assert proc.poll() is None, b"".join(output)[-2000:]
        args = cmdline(proc.pid)
        assert PASSWORD.encode() not in args, args
        assert f"127.0.0.1:{port}".encode() in args  # the rest of the URL is kept
        assert PASSWORD.encode() not in Path(f"/proc/{proc.pid}/environ").read_bytes()
    finally:
        proc.kill()
        proc.wait(timeout=10)
        os.close(master)
        reader.join(timeout=5)


def test_snapshot_cli_scrubs_a_password_given_in_the_url(private_redis, tmp_path: Path):
    server = private_redis("snap-auth", extra_args=["--requirepass", PASSWORD])
    admin = redis.Redis.from_url(server.url, password=PASSWORD)
    fs = FileSystem.mkfs(admin, "auth")
    fs.release(fs.create(1, "f", 0o644).ino)
    dump = tmp_path / "auth.rdb"
    export_filesystem(admin, "auth", str(dump))
    fifo = tmp_path / "fifo.rdb"
    os.mkfifo(fifo)  # --import blocks opening it: the process stays to be looked at
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    env = {k: v for k, v in os.environ.items() if k != "REDISFS_PASSWORD"}
    before = clients(admin)
    proc = subprocess.Popen([str(BIN / "redisfs-snapshot"), f"--url={url}", "--from", "auth",
                             "--import", str(fifo), "--to", "copy"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        # connected (so any re-execution is over), then blocked opening the FIFO
        wait_until(lambda: clients(admin) > before or proc.poll() is not None, timeout=20)
        assert proc.poll() is None, proc.communicate()
        args = cmdline(proc.pid)
        assert PASSWORD.encode() not in args and f"127.0.0.1:{port}".encode() in args, \
            (args, proc.communicate(timeout=5))
        with open(fifo, "wb") as pipe:
            pipe.write(dump.read_bytes())
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "imported auth" in out.decode() and "as copy" in out.decode()
    assert FileSystem(admin, "copy").resolve("/f").is_reg


def test_migrate_cli_scrubs_a_password_given_in_the_url(private_redis, tmp_path: Path):
    server = private_redis("migrate-auth", extra_args=["--requirepass", PASSWORD])
    fifo = tmp_path / "legacy.rdb"
    os.mkfifo(fifo)  # reading the dump blocks on the FIFO: the process stays to be looked at
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    env = {k: v for k, v in os.environ.items() if k != "REDISFS_PASSWORD"}
    proc = subprocess.Popen([str(BIN / "redisfs-migrate"), f"--url={url}", "--from-legacy=skx",
                             "--to=new", f"--rdb={fifo}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        # re-executed as "python -m redisfs_tui.cli.migrate" (or never: then the check fails)
        wait_until(lambda: b"redisfs_tui.cli.migrate" in cmdline(proc.pid)
                   or proc.poll() is not None, timeout=20)
        assert proc.poll() is None, proc.communicate()
        args = cmdline(proc.pid)
        assert PASSWORD.encode() not in args and f"127.0.0.1:{port}".encode() in args, args
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
