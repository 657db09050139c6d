"""Race tests through a real mount: run worker threads with a deadline, and turn a hung
mount into a test failure (stress_watch aborts the FUSE connection, so nothing stays
stuck)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import stress_watch as sw


def run_for(seconds: float, workers: list[Callable[[threading.Event], None]],
            mountpoint: Path, grace: float = 20.0) -> None:
    """Run every worker (each loops until the event is set) for ``seconds``; a worker
    that does not finish within ``grace`` seconds after that means the mount hung:
    the connection is aborted and AssertionError raised.  A worker's exception is
    re-raised."""
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
        state = sw.connection_state([str(mountpoint)])
        aborted = sw.abort_mount(str(mountpoint))
        for thread in stuck:
            thread.join(5)
        raise AssertionError(f"mount hung: {len(stuck)} of {len(threads)} workers stuck "
                             f"{grace:.0f} s after the run; {state}; {aborted}")
    if errors:
        raise errors[0]
