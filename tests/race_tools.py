"""Tools for race tests through a real mount: run workers with a deadline, and turn a
hung mount into a test failure (abort the FUSE connection so nothing stays stuck)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path


def connection_dir(mountpoint: Path) -> Path:
    """/sys/fs/fuse/connections/N of a FUSE mount (N is the device's minor number)."""
    return Path("/sys/fs/fuse/connections") / str(os.minor(os.stat(mountpoint).st_dev))


def waiting_requests(conn: Path) -> int:
    try:
        return int((conn / "waiting").read_text())
    except (OSError, ValueError):
        return -1


def abort(conn: Path) -> None:
    """Fail every pending request of the mount: stuck workers return with ENOTCONN."""
    with contextlib.suppress(OSError):
        (conn / "abort").write_text("1")


def run_for(seconds: float, workers: list[Callable[[threading.Event], None]],
            mountpoint: Path, grace: float = 20.0) -> None:
    """Run every worker (each loops until the event is set) for ``seconds``; a worker
    that does not finish within ``grace`` seconds after that means the mount hung:
    the connection is aborted and AssertionError raised.  A worker's exception is
    re-raised."""
    conn = connection_dir(mountpoint)
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(work: Callable[[threading.Event], None]) -> None:
        try:
            work(stop)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(w,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    deadline = time.monotonic() + grace
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in threads if t.is_alive()]
    if stuck:
        waiting = waiting_requests(conn)
        abort(conn)
        for thread in stuck:
            thread.join(5)
        raise AssertionError(f"mount hung: {len(stuck)} of {len(threads)} workers stuck "
                             f"{grace:.0f} s after the run, {waiting} FUSE requests waiting")
    if errors:
        raise errors[0]
