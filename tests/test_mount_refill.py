"""refill.RefillGuard: when a WRITE's range may hold old bytes a READ brought back."""

from __future__ import annotations

from redisfs_tui.mount.refill import DROPS, HISTORY, RefillGuard

INO, THREAD = 7, 100


def dropped(guard: RefillGuard, ino: int = INO) -> None:
    guard.drop_ended(ino, guard.drop_begins(ino))


def test_no_drop_no_refill():
    guard = RefillGuard()
    guard.read(INO, 0, 4096)
    assert not guard.wrote(INO, THREAD, 0, 4096)


def test_a_read_after_a_drop_that_followed_the_previous_write():
    guard = RefillGuard()
    assert not guard.wrote(INO, THREAD, 0, 4096)
    dropped(guard)
    guard.read(INO, 0, 8192)
    assert guard.wrote(INO, THREAD, 4096, 8192)
    assert not guard.wrote(INO, THREAD, 4096, 8192)  # nothing new since that WRITE


def test_what_does_not_count():
    guard = RefillGuard()
    dropped(guard)
    guard.read(INO, 0, 4096)
    assert not guard.wrote(INO, THREAD, 4096, 8192)  # the READ does not overlap
    guard.read(INO, 0, 4096)  # a READ, and no drop since this thread's previous WRITE
    assert not guard.wrote(INO, THREAD, 0, 4096)
    assert not guard.wrote(INO + 1, THREAD, 0, 4096)  # another inode


def test_a_read_before_the_drop_does_not_count():
    guard = RefillGuard()
    guard.wrote(INO, THREAD, 0, 1)
    dropped(guard)
    guard.wrote(INO, THREAD + 1, 0, 1)
    guard.read(INO, 100, 200)
    dropped(guard)
    assert not guard.wrote(INO, THREAD + 1, 0, 4096)  # its READ came before the 2nd drop
    guard.read(INO, 0, 4096)
    assert guard.wrote(INO, THREAD, 0, 4096)


def test_a_drop_that_has_not_ended_counts():
    """An OPEN reply asks the kernel to drop the pages; it does when the opener runs."""
    guard = RefillGuard()
    guard.wrote(INO, THREAD, 0, 1)
    token = guard.drop_begins(INO)
    guard.read(INO, 0, 4096)
    assert guard.wrote(INO, THREAD, 0, 4096)
    guard.read(INO, 0, 4096)
    assert guard.wrote(INO, THREAD, 0, 4096)  # still going on: may come after the copy
    guard.drop_ended(INO, token)
    assert not guard.wrote(INO, THREAD, 0, 4096)


def test_cut_histories_err_towards_dropping():
    guard = RefillGuard()
    guard.wrote(INO, THREAD, 0, 1)
    dropped(guard)
    for _ in range(HISTORY + 1):
        guard.read(INO, 1 << 30, (1 << 30) + 1)  # none overlaps, but the first fell out
    assert guard.wrote(INO, THREAD, 0, 4096)
    guard = RefillGuard()
    guard.wrote(INO, THREAD, 0, 1)
    for _ in range(DROPS + 2):
        dropped(guard)
    guard.read(INO, 0, 4096)
    assert guard.wrote(INO, THREAD, 0, 4096)


def test_forget_at_the_last_close():
    guard = RefillGuard()
    dropped(guard)
    guard.read(INO, 0, 4096)
    guard.forget(INO)
    assert not guard.wrote(INO, THREAD, 0, 4096)
