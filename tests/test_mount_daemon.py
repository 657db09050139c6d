"""The redisfs daemon as users run it: arguments, errors, detaching, the mount helper
forms, signals, passwords, the mount registry and --debug logging."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mount_fixtures
import pytest
import redis
from helpers_invariants import stored_key
from mount_fixtures import Mounter, wait_until

from redisfs_tui.cli.daemon import build_parser, config_from_args, scrub_argv, split_options
from redisfs_tui.core import FileSystem
from redisfs_tui.core.registry import list_mounts
from redisfs_tui.mount import spawn

DAEMON = [sys.executable, "-m", "redisfs_tui.cli.daemon"]

# fixtures of mount_fixtures used here (imported names would trip F811)
mounter = mount_fixtures.mounter
private_redis = mount_fixtures.private_redis


def daemon(*args: str, timeout: float = 30, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*DAEMON, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_missing_filesystem_and_newer_format_are_clear_errors(redis_server, client, fs,
                                                               tmp_path: Path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    result = daemon("--url", redis_server.url, "--prefix", "nosuchfs", "--mount", str(mnt),
                    "--foreground")
    assert result.returncode == 1
    assert "no filesystem 'nosuchfs'" in result.stderr
    assert "redisfs --mkfs" in result.stderr and "--prefix=nosuchfs" in result.stderr
    assert "Traceback" not in result.stderr and not spawn.is_mounted(mnt)

    client.hset(fs.keys.superblock, "format_version", 99)
    result = daemon("--url", redis_server.url, "--prefix", fs.prefix, "--mount", str(mnt),
                    "--foreground")
    assert result.returncode == 1
    assert "format version 99" in result.stderr and "Traceback" not in result.stderr
    assert not spawn.is_mounted(mnt)


def test_bad_arguments_exit_with_a_message(redis_server, tmp_path: Path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    cases = [
        (["--port", "notaport", "--mount", str(mnt)], 2, "invalid int value"),
        (["--prefix", "a b", "--mount", str(mnt)], 2, "invalid prefix"),
        (["--url", redis_server.url], 2, "no mountpoint given"),
        (["--url", redis_server.url, "--mount", str(mnt / "missing")], 1, "does not exist"),
        (["--url", "redis://127.0.0.1:1/0", "--timeout", "0.5", "--mount", str(mnt)], 1,
         "cannot connect to Redis"),
        (["--url", redis_server.url, "--mount", str(mnt), "-o", "timeout=-1"], 2,
         "must be a number >= 0"),
    ]
    bad_pw = tmp_path / "latin1.pw"
    bad_pw.write_bytes("pässwörd\n".encode("latin-1"))
    server = ["--url", redis_server.url, "--mount", str(mnt)]
    cases += [  # issue 9: these were tracebacks, "internal error"s or silent defaults
        (["--url", "foo://h", "--mount", str(mnt)], 2, "bad Redis URL 'foo://h'"),
        (["--url", "redis://:pw@h:99999", "--mount", str(mnt)], 2, "Port out of range"),
        (["--url", "redis://[::1", "--mount", str(mnt)], 2, "Invalid IPv6 URL"),
        (["--url", "redis://h/zero", "--mount", str(mnt)], 2, "database number"),
        (["--url", "unix://", "--mount", str(mnt)], 2, "needs a socket path"),
        ([*server, "--timeout=1e308"], 2, "timeout must be at most 86400 seconds"),
        ([*server, "-o", "attr_timeout=1e308"], 2, "attr_timeout must be at most"),
        ([*server, "--password-file", str(bad_pw)], 2, f"{bad_pw} is not UTF-8 text"),
        ([*server, "--password-file=/dev/zero"], 2, "longer than 4096 bytes"),
        ([*server, "--prefix="], 2, "empty prefix"),
        ([*server, "-o", "prefix="], 2, "empty prefix"),
    ]
    for args, code, message in cases:
        result = daemon(*args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and "pw@" not in result.stderr
        assert not spawn.is_mounted(mnt)


def test_mkfs_then_detach_then_fusermount_unmounts(redis_server, client, tmp_path: Path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    started = time.monotonic()
    result = daemon("--url", redis_server.url, "--prefix", "detached", "--mount", str(mnt),
                    "--mkfs", "--log-file", str(tmp_path / "log"))
    try:
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 15
        # success is news, not a warning (it was logged as WARNING)
        assert "INFO: created filesystem 'detached'" in result.stderr, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
        # (the test server keeps nothing across a restart: that is the one warning)
        assert all("has no persistence" in line for line in warnings), result.stderr
        assert spawn.is_mounted(mnt)  # live when the command returned
        (mnt / "hello").write_text("detached daemon")
        [record] = list_mounts(client, "detached")
        assert record.mountpoint == str(mnt) and record.alive and not record.read_only
        assert record.log_path == str(tmp_path / "log")
        assert alive(record.pid) and record.pid != os.getpid()
    finally:
        spawn.unmount(mnt)
    wait_until(lambda: not alive(record.pid), timeout=10)
    assert list_mounts(client, "detached") == []  # a clean unmount removes the record
    assert FileSystem(client, "detached").read(
        FileSystem(client, "detached").resolve("/hello").ino, 0, 100) == b"detached daemon"


def test_mount_helper_forms(redis_server, fs, tmp_path: Path):
    """`redisfs PREFIX DIR -o opts` (what mount.fuse3 runs) and `mount -t fuse`."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = spawn.spawn([fs.prefix, str(mnt), "-o", f"url={redis_server.url},allow_other"], mnt)
    try:
        (mnt / "via-helper-argv").write_text("1")
        options = next(line for line in Path("/proc/self/mounts").read_text().splitlines()
                       if f" {mnt} " in line)
        assert "fuse.redisfs" in options and "allow_other" in options
    finally:
        assert spawn.stop(proc, mnt) == 0
    wrapper = tmp_path / "redisfs"
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        exec {sys.executable} -m redisfs_tui.cli.daemon "$@"
        """))
    wrapper.chmod(0o755)
    result = subprocess.run(["mount", "-t", "fuse", f"{wrapper}#{fs.prefix}", str(mnt), "-o",
                             f"url={redis_server.url},log_file={tmp_path / 'helper.log'}"],
                            capture_output=True, text=True, timeout=30)
    try:
        assert result.returncode == 0, result.stderr
        assert spawn.is_mounted(mnt)
        assert sorted(os.listdir(mnt)) == ["via-helper-argv"]
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
    assert not spawn.is_mounted(mnt)


def test_sigterm_unmounts_after_storing_buffered_writes(mounter: Mounter, fs: FileSystem):
    mount = mounter.mount(fs.prefix)
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        import sys, time
        handle = open({str(mount.path / 'pending')!r}, 'wb')
        handle.write(b'p' * 3_000_000)  # stays in the daemon's write buffer: no close yet
        print('written', flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "written"
        ino = fs.resolve("/pending").ino
        assert fs.getattr(ino).size == 0  # nothing sent to Redis yet
        mount.proc.send_signal(signal.SIGTERM)
        assert mount.proc.wait(timeout=20) == 0
    finally:
        writer.kill()
        writer.wait()
    assert not spawn.is_mounted(mount.path)
    assert fs.read(ino, 0, 3_000_001) == b"p" * 3_000_000
    assert list_mounts(fs.client, fs.prefix) == []


def test_password_never_appears_in_process_arguments(private_redis, tmp_path: Path):
    server = private_redis("auth", extra_args=["--requirepass", "s3cret-pw"])
    admin = redis.Redis.from_url(server.url, password="s3cret-pw")
    FileSystem.mkfs(admin, "auth")
    m = Mounter(server.url, tmp_path)
    try:
        flag = m.mount("auth", "--password", "s3cret-pw")  # even given as a flag
        cmdline = Path(f"/proc/{flag.proc.pid}/cmdline").read_bytes()
        assert b"s3cret-pw" not in cmdline and b"redisfs_tui.cli.daemon" in cmdline
        (flag.path / "ok").write_text("authenticated")
        flag.stop()
        pw_file = tmp_path / "pw"
        pw_file.write_text("s3cret-pw\n")
        by_file = m.mount("auth", "--password-file", str(pw_file))
        assert (by_file.path / "ok").read_text() == "authenticated"
        by_file.stop()
        by_env = m.mount("auth", password="s3cret-pw")  # REDISFS_PASSWORD
        assert b"s3cret-pw" not in Path(f"/proc/{by_env.proc.pid}/cmdline").read_bytes()
        assert (by_env.path / "ok").read_text() == "authenticated"
        by_env.stop()
        port = server.url.rsplit(":", 1)[1].split("/")[0]
        mnt = tmp_path / "by-url"
        mnt.mkdir()
        for args in (["--url", f"redis://:s3cret-pw@127.0.0.1:{port}/0", "--mount", str(mnt)],
                     ["auth", str(mnt), "-o", f"url=redis://default:s3cret-pw@127.0.0.1:{port}"]):
            proc = spawn.spawn([*args, "--prefix", "auth"], mnt)  # in the URL, twice
            try:
                cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
                assert b"s3cret-pw" not in cmdline and f"127.0.0.1:{port}".encode() in cmdline
                assert b"s3cret-pw" not in Path(f"/proc/{proc.pid}/environ").read_bytes()
                assert (mnt / "ok").read_text() == "authenticated"
            finally:
                assert spawn.stop(proc, mnt) == 0
    finally:
        m.cleanup()
    (tmp_path / "empty").mkdir()
    result = daemon("--url", server.url, "--prefix", "auth", "--mount", str(tmp_path / "empty"),
                    "--foreground", env={**os.environ, "REDISFS_PASSWORD": "wrong"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "authentication failed" in result.stderr.lower()


def test_debug_logs_every_call_and_normal_mode_only_warnings(mounter: Mounter, fs: FileSystem):
    quiet = mounter.mount(fs.prefix)
    (quiet.path / "f").write_text("x")
    os.listdir(quiet.path)
    quiet.stop()
    assert " DEBUG " not in quiet.log_text() and "-> getattr" not in quiet.log_text()
    loud = mounter.mount(fs.prefix, "--debug")
    assert (loud.path / "f").read_text() == "x"
    assert not (loud.path / "missing").exists()
    log = loud.log_text()
    assert "-> lookup(1, 'f')" in log and "<- lookup = {" in log
    assert "-> lookup(1, 'missing')" in log and "<- lookup: ENOENT" in log
    assert "-> read(" in log and "<- read = <1 bytes>" in log


def test_option_parsing_and_password_stripping():
    clean = scrub_argv(
        ["skx", "/mnt", "-o", "host=h,password=pw1,allow_other", "--password=pw2", "-f"])
    assert clean == ["skx", "/mnt", "-o", "host=h,allow_other", "-f"]
    assert scrub_argv(["-opassword=x", "--password", "y", "/m"]) == ["/m"]
    assert scrub_argv(["-o", "password=only"]) == []
    assert scrub_argv(["--url=redis://:p@ss@h:1/0", "--url", "rediss://al:pw@h",
                       "-ourl=unix://u:pw@/run/r.sock,ro", "-o", "ro,url=redis://:pw@h,rw",
                       "--url=redis://alice@h/0"]) == [
        "--url=redis://h:1/0", "--url", "rediss://al@h", "-ourl=unix://u@/run/r.sock,ro",
        "-o", "ro,url=redis://h,rw", "--url=redis://alice@h/0"]
    ours, fuse = split_options(["rw,host=h,port=7000,ro,allow_other,_netdev,x-systemd.foo",
                                "max_read=65536,debug"])
    assert ours == {"host": "h", "port": "7000", "read_only": True, "debug": True}
    assert fuse == {"allow_other": True, "max_read": "65536"}
    args = build_parser().parse_args(["photos", "/mnt/p", "-o", "port=7000,cache_ttl=0.5"])
    config = config_from_args(args)
    assert (config.prefix, config.mountpoint, config.cache_ttl) == ("photos", "/mnt/p", 0.5)
    assert config.server.url == "redis://localhost:7000/0" and not config.allow_eviction
    for given in (["-o", "allow_eviction"], ["--allow-eviction"]):
        assert config_from_args(build_parser().parse_args(["--port=7000", "/m", *given])
                                ).allow_eviction
    seed = config_from_args(build_parser().parse_args(
        ["--host=10.1.2.3", "--port=6380", "--mount=/mnt/r", "--read-only", "--debug"]))
    assert (seed.prefix, seed.read_only, seed.debug) == ("skx", True, True)
    assert seed.server.url == "redis://10.1.2.3:6380/0" and not seed.foreground


def read_ahead_kib(path: Path) -> int:
    """The kernel's readahead for the filesystem mounted at ``path`` (from sysfs)."""
    device = os.stat(path).st_dev
    bdi = Path(f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb")
    return int(bdi.read_text())


def test_readahead_raised_to_the_read_window_unless_told_not_to(mounter: Mounter,
                                                                 fs: FileSystem, tmp_path: Path):
    if not mount_fixtures.superuser():
        pytest.skip("sysfs readahead needs root")  # CI runs as root: this test runs there
    spaced = tmp_path / "a mount"  # mountinfo escapes the space
    raised = mounter.mount(fs.prefix, path=spaced)
    assert read_ahead_kib(raised.path) == 1024
    (raised.path / "f").write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    kept = mounter.mount(fs.prefix, "--readahead=0")
    assert read_ahead_kib(kept.path) != 1024  # the kernel's own default stays
    assert (kept.path / "f").read_bytes() == (raised.path / "f").read_bytes()


def test_damaged_data_is_euclean_through_the_mount_and_logged(mounter: Mounter,
                                                               fs: FileSystem):
    """A block nobody can decode: reading it through the mount fails with EUCLEAN (as on
    a corrupted ext4), other files stay readable, and the log names the cure, once."""
    mount = mounter.mount(fs.prefix)
    (mount.path / "good").write_bytes(b"fine")
    (mount.path / "bad").write_bytes(b"x" * 1000)
    ino = os.stat(mount.path / "bad").st_ino
    fs.client.set(stored_key(fs, ino, 0), b"Sgarbage")
    time.sleep(2.5)  # the mount's caches and the kernel's expire
    for _ in range(3):
        with pytest.raises(OSError) as exc:
            (mount.path / "bad").read_bytes()
        assert exc.value.errno == errno.EUCLEAN
    assert (mount.path / "good").read_bytes() == b"fine"
    mount.stop()
    log = mount.log_text()
    assert "damaged block" in log and "fsck" in log
    assert log.count("WARNING redisfs.fuse: read failed") == 1  # three reads, one warning


def mounts_on(path: Path) -> int:
    """How many filesystems are stacked on ``path`` (read from mountinfo, no stat)."""
    escaped = str(path).replace(" ", "\\040")
    return sum(1 for line in Path("/proc/self/mountinfo").read_text().splitlines()
               if line.split(" ")[4] == escaped)


def test_a_second_mount_on_a_mount_point_is_refused(redis_server, mounter: Mounter,
                                                    fs: FileSystem, tmp_path: Path):
    """Running redisfs twice on one directory used to stack a second mount silently."""
    mount = mounter.mount(fs.prefix)
    (mount.path / "first").write_text("1")
    link = tmp_path / "link-to-mount"
    link.symlink_to(mount.path)
    try:
        for where in (mount.path, link):
            result = daemon("--url", redis_server.url, "--prefix", fs.prefix, "--mount",
                            str(where), "--log-file", str(tmp_path / "second.log"))
            assert result.returncode == 1, result.stderr
            assert "already a mount point (fuse.redisfs)" in result.stderr, result.stderr
            assert f"fusermount3 -u {mount.path}" in result.stderr
            assert "Traceback" not in result.stderr
            assert mounts_on(mount.path) == 1
        assert (mount.path / "first").read_text() == "1"  # the first mount still serves
    finally:
        for _ in range(3):  # a stacked mount (the bug) must not outlive the test
            if mounts_on(mount.path) > 1:
                spawn.unmount(mount.path, lazy=True)


def test_the_mountpoint_check_never_waits_for_a_hung_mount(redis_server, mounter: Mounter,
                                                         fs: FileSystem, tmp_path: Path):
    """A stopped daemon: any stat() of its mount root waits for it.  The check reads
    /proc/self/mountinfo first, so redisfs refuses at once instead of hanging."""
    mount = mounter.mount(fs.prefix)
    os.kill(mount.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(1.5)  # the kernel's cached attributes of the root expire (1 s)
        started = time.monotonic()
        result = daemon("--url", redis_server.url, "--prefix", fs.prefix, "--mount",
                        str(mount.path), "--foreground", timeout=20)
        assert result.returncode == 1 and "already a mount point" in result.stderr
        assert time.monotonic() - started < 10
    finally:
        os.kill(mount.proc.pid, signal.SIGCONT)
    assert os.listdir(mount.path) == []  # the mount itself carries on
    assert mounts_on(mount.path) == 1


def test_a_directory_with_files_is_mounted_on_only_with_nonempty(redis_server, fs: FileSystem,
                                                                 tmp_path: Path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (mnt / "local-file").write_text("would be hidden")
    common = ["--url", redis_server.url, "--prefix", fs.prefix, "--mount", str(mnt),
              "--log-file", str(tmp_path / "log")]
    try:
        result = daemon(*common)
        assert result.returncode == 1, result.stderr
        assert "is not empty" in result.stderr and "-o nonempty" in result.stderr
        assert "Traceback" not in result.stderr and mounts_on(mnt) == 0
        proc = spawn.spawn([*common, "-o", "nonempty"], mnt)  # libfuse 3 rejects the option
        try:
            assert os.listdir(mnt) == []  # the filesystem, not the directory's files
        finally:
            assert spawn.stop(proc, mnt) == 0
        assert os.listdir(mnt) == ["local-file"]
    finally:
        while mounts_on(mnt):
            spawn.unmount(mnt, lazy=True)
