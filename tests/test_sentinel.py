"""Sentinel: redis+sentinel:// URLs, a mount that survives a failover (the master
SIGKILLed under a live mount), and fsync with --sync-replicas that is not lost."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mount_fixtures import Mounter
from sentinel_fixtures import SentinelSetup, sentinel_setup  # noqa: F401

from redisfs_tui.cli.daemon import UsageError, build_parser, config_from_args, scrub_argv
from redisfs_tui.core import ROOT_INO, FileSystem, ServerSpec, connect
from redisfs_tui.core.connection import BadServerSpec, check_url, parse_multi_url, redacted

# what a call may answer while there is no master: never a hang, never a wrong answer
OUTAGE_ERRNOS = {errno.EIO, errno.EAGAIN, errno.ETIMEDOUT}
FAILOVER_BOUND = 20.0  # seconds: detection (1 s) + election + retries, with margin


def test_sentinel_urls_parse_and_hide_their_password() -> None:
    url = "redis+sentinel://alice:s3cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster/2"
    parsed = parse_multi_url(url)
    assert parsed.hosts == [("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380)]
    assert (parsed.service, parsed.db, parsed.username, parsed.password) == \
        ("mymaster", 2, "alice", "s3cret")
    assert "s3cret" not in redacted(url) and "alice:***@" in redacted(url)
    odd = "redis+sentinel://al:p/w@x,y@s1:1,s2/mymaster"  # "/", "@" and "," in a password
    assert parse_multi_url(odd).password == "p/w@x,y"
    assert redacted(odd) == "redis+sentinel://al:***@s1:1,s2/mymaster"
    assert scrub_argv(["--url=" + odd]) == ["--url=redis+sentinel://al@s1:1,s2/mymaster"]
    cluster = parse_multi_url("redis+cluster://:pw@h1:7000,h2:7001")
    assert cluster.hosts == [("h1", 7000), ("h2", 7001)] and cluster.password == "pw"
    for bad in ("redis+sentinel://h:26379", "redis+sentinel://h:x/svc",
                "redis+sentinel://h:1/svc/notadb", "redis+cluster://h:1/3",
                "redis+sentinel://:pw@h:1/svc?x=1"):
        with pytest.raises(BadServerSpec) as caught:
            check_url(bad)
        assert "pw" not in str(caught.value)


def _worker(root: Path, stop: threading.Event, log: list[tuple[float, float, int | None]]
            ) -> None:
    """Write, close and read back small files until told to stop; log every round as
    (start, seconds, errno or None)."""
    i = 0
    while not stop.is_set():
        i += 1
        started = time.monotonic()
        data = f"round {i}\n".encode() * 100
        try:
            path = root / f"f{i % 50}"
            path.write_bytes(data)
            assert path.read_bytes() == data
            log.append((started, time.monotonic() - started, None))
        except OSError as exc:
            log.append((started, time.monotonic() - started, exc.errno))
            time.sleep(0.05)


def test_mount_survives_a_failover(sentinel_setup: SentinelSetup,  # noqa: F811
                                   tmp_path: Path) -> None:
    setup = sentinel_setup
    fs = FileSystem.mkfs(connect(ServerSpec.from_parts(url=setup.url)), "sfail", uid=0, gid=0)
    fs.chmod(ROOT_INO, 0o777)
    mounter = Mounter(setup.url, tmp_path)
    try:
        mount = mounter.mount("sfail", "--timeout", "2")
        stop, log = threading.Event(), []
        worker = threading.Thread(target=_worker, args=(mount.path, stop, log), daemon=True)
        worker.start()
        time.sleep(1.0)
        old_master = setup.master.port
        killed = time.monotonic()
        setup.master.process.send_signal(signal.SIGKILL)
        deadline = killed + FAILOVER_BOUND
        while time.monotonic() < deadline:  # until a new master is known and used
            if setup.master_port() not in (None, old_master) and \
                    any(r[0] > killed + 0.5 and r[2] is None for r in log):
                break
            time.sleep(0.2)
        time.sleep(2.0)  # and some more rounds on it
        stop.set()
        worker.join(timeout=30)
        assert not worker.is_alive(), "a call through the mount hung"
        after = [r for r in log if r[0] + r[1] >= killed]  # rounds in flight count too
        errors = [r for r in after if r[2] is not None]
        assert {r[2] for r in errors} <= OUTAGE_ERRNOS, errors
        ends = [r[0] + r[1] for r in errors] + [r[0] + r[1] for r in after if r[1] > 0.5]
        window = max(ends, default=killed) - killed  # failed or stalled rounds
        longest = max(r[1] for r in after)
        print(f"\nfailover: {len(after)} rounds after the kill, {len(errors)} failed "
              f"({sorted({r[2] for r in errors})}), outage window {window:.2f} s, "
              f"longest round {longest:.2f} s")
        assert longest < 15, "a round took too long"
        assert window < FAILOVER_BOUND
        assert setup.master_port() == setup.replica.port
        ok_late = [r for r in after if r[2] is None and r[0] > killed + window]
        assert len(ok_late) > 10, "the mount did not work again after the failover"
        assert mount.stop() == 0
    finally:
        mounter.cleanup()


def test_fsync_with_sync_replicas(sentinel_setup: SentinelSetup,  # noqa: F811
                                  tmp_path: Path) -> None:
    setup = sentinel_setup
    fs = FileSystem.mkfs(connect(ServerSpec.from_parts(url=setup.url)), "ssync", uid=0, gid=0)
    fs.chmod(ROOT_INO, 0o777)
    mounter = Mounter(setup.url, tmp_path)
    try:
        mount = mounter.mount("ssync", "--sync-replicas=1", "--timeout", "2")
        # a stalled replica: fsync must not claim the data is safe
        replica_pid = setup.replica.process.pid
        os.kill(replica_pid, signal.SIGSTOP)
        try:
            with open(mount.path / "unsafe", "wb") as handle:
                handle.write(b"not yet replicated")
                handle.flush()  # out of Python's buffer, into the mount
                started = time.monotonic()
                with pytest.raises(OSError) as caught:
                    os.fsync(handle.fileno())
                waited = time.monotonic() - started
        finally:
            os.kill(replica_pid, signal.SIGCONT)
        assert caught.value.errno == errno.EIO
        assert waited < 5
        # a healthy replica: fsync returns, then the master dies at once
        data = os.urandom(300_000)
        with open(mount.path / "safe", "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            setup.master.process.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + FAILOVER_BOUND
        while setup.master_port() != setup.replica.port:
            assert time.monotonic() < deadline, "no failover"
            time.sleep(0.2)
        promoted = FileSystem(connect(ServerSpec.from_parts(url=setup.url)), "ssync")
        attr = promoted.resolve("/safe")
        assert bytes(promoted.read(attr.ino, 0, attr.size)) == data
        mounter.cleanup()
    finally:
        mounter.cleanup()


def test_read_only_client_uses_the_replica_and_cli_lists(sentinel_setup: SentinelSetup,  # noqa: F811
                                                         ) -> None:
    setup = sentinel_setup
    master = connect(ServerSpec.from_parts(url=setup.url))
    assert master.info("replication")["role"] == "master"
    fs = FileSystem.mkfs(master, "sro", uid=0, gid=0)
    f = fs.create(ROOT_INO, "a", 0o644)
    fs.write(f.ino, 0, b"replicated")
    fs.release(f.ino)
    master.wait(1, 2000)
    replica = connect(ServerSpec.from_parts(url=setup.url), replica=True)
    assert replica.info("replication")["role"] == "slave"
    ro = FileSystem(replica, "sro", read_only=True)
    assert bytes(ro.read(ro.resolve("/a").ino, 0, 100)) == b"replicated"
    result = subprocess.run([sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url",
                             setup.url.replace("://", "://:wrongpw@"), "--list"],
                            capture_output=True, text=True, timeout=60)
    # the test master has no password: redis-py reports it; the password is never shown
    assert "wrongpw" not in result.stdout + result.stderr
    result = subprocess.run([sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url",
                             setup.url, "--list"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "sro\t" in result.stdout, result.stderr


def test_daemon_arguments_for_sentinel_and_sync_replicas() -> None:
    """A comma in a --url password (legal in multi-host URLs) is cut from argv too."""
    clean = scrub_argv(["--url=redis+sentinel://al:p,w@s1,s2:26380/mymaster", "--url",
                        "redis+cluster://:x,y@h:1,h:2", "-o", "url=redis://:pw@h,ro"])
    assert clean == ["--url=redis+sentinel://al@s1,s2:26380/mymaster", "--url",
                     "redis+cluster://h:1,h:2", "-o", "url=redis://h,ro"]
    config = config_from_args(build_parser().parse_args(
        ["--url=redis+sentinel://s1,s2/mymaster", "--sync-replicas=2", "/m"]))
    assert config.sync_replicas == 2
    assert config_from_args(build_parser().parse_args(
        ["--url=redis://h", "-o", "sync_replicas=1", "/m"])).sync_replicas == 1
    with pytest.raises(UsageError):
        config_from_args(build_parser().parse_args(["--sync-replicas=-1", "/m"]))
    with pytest.raises(UsageError, match="cannot be combined"):
        config_from_args(build_parser().parse_args(
            ["--url=redis+sentinel://s1/mymaster", "--port=6380", "/m"]))


def test_unreachable_sentinels_and_cluster_seeds_are_one_line() -> None:
    for url, said in (("redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster",
                       "No master found for 'mymaster'"),
                      ("redis+cluster://127.0.0.1:1,127.0.0.1:2",
                       "Redis Cluster cannot be connected")):
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url",
                                 url, "--list"], capture_output=True, text=True, timeout=60)
        assert time.monotonic() - started < 8  # dead sentinels took 21 s (nested retries)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr and said in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
