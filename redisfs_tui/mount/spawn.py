"""Start and stop ``redisfs`` daemons from Python (tests, benchmarks, the UI).

No libfuse import here: the daemon runs in its own process, which is also how
users run it.  Passwords travel in the environment, never in argv.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

from ..core.connection import PASSWORD_ENV


def is_mounted(path: str | os.PathLike[str]) -> bool:
    """True when a FUSE filesystem is mounted exactly at ``path`` (reads /proc/self/mounts)."""
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and fields[2].startswith("fuse") and \
                        fields[1].replace("\\040", " ") == target:
                    return True
    except OSError:
        return os.path.ismount(target)
    return False


def unmount(path: str | os.PathLike[str], lazy: bool = False) -> bool:
    """fusermount3 -u (or -uz); returns True when nothing is mounted there afterwards."""
    tool = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount3"
    args = [tool, "-u", "-z" if lazy else "", str(path)]
    subprocess.run([a for a in args if a], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return not is_mounted(path)


def daemon_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "redisfs_tui.cli.daemon", *args]


def spawn(args: Sequence[str], mountpoint: str | os.PathLike[str], *, password: str | None = None,
          timeout: float = 15.0, log_path: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``redisfs ARGS --foreground`` and wait until the mount is live.

    Raises RuntimeError with the daemon's output when it exits or times out first.
    """
    child_env = dict(os.environ if env is None else env)
    if password is not None:
        child_env[PASSWORD_ENV] = password
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(daemon_command([*args, "--foreground"]), env=child_env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_mounted(mountpoint):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    stop(proc, mountpoint)
    detail = ""
    if log_path:
        with contextlib.suppress(OSError), open(log_path, encoding="utf-8",
                                                errors="replace") as handle:
            detail = handle.read()[-2000:]
    raise RuntimeError(f"redisfs did not mount {mountpoint} (exit {proc.returncode}): {detail}")


def stop(proc: subprocess.Popen[bytes] | None, mountpoint: str | os.PathLike[str],
         timeout: float = 15.0) -> int | None:
    """Unmount cleanly (the daemon flushes and exits); force it if that does not work."""
    if is_mounted(mountpoint):
        unmount(mountpoint)
    if proc is None:
        return None
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    finally:
        if is_mounted(mountpoint):
            unmount(mountpoint, lazy=True)
