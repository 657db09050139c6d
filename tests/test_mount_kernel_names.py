"""names.KernelNames: which inode the kernel means by a name, and when that is unknown."""

from __future__ import annotations

from redisfs_tui.mount import names
from redisfs_tui.mount.names import KernelNames

DIR = 1


def test_a_name_told_once_is_believed_and_settled():
    kernel = KernelNames()
    kernel.told(DIR, "a", 10, shared=True)
    assert kernel.believed(DIR, "a") == 10
    assert not kernel.doubtful(DIR, "a")
    assert kernel.believed(DIR, "unknown") is None and not kernel.doubtful(DIR, "unknown")


def test_a_lookup_and_a_listing_that_disagree_put_the_name_in_doubt_until_looked_up():
    """Another mount replaced the name between a listing and a lookup running at once:
    the kernel applied their answers in an order we cannot know."""
    kernel = KernelNames()
    kernel.told_many(DIR, [("a", 10), ("b", 11)])
    kernel.told(DIR, "a", 12, shared=True)
    assert kernel.doubtful(DIR, "a")  # a removal answers ESTALE ...
    assert kernel.doubtful(DIR, "a")  # (until the kernel looks again)
    assert not kernel.doubtful(DIR, "b")
    kernel.told(DIR, "a", 10, shared=True)  # ... and the kernel's own look settles it
    assert not kernel.doubtful(DIR, "a") and kernel.believed(DIR, "a") == 10


def test_no_such_name_against_an_inode_is_doubt_too():
    kernel = KernelNames()
    kernel.told_many(DIR, [("a", 10)])
    kernel.gone(DIR, "a", shared=True)  # a lookup found it removed meanwhile
    assert kernel.believed(DIR, "a") is None
    assert kernel.doubtful(DIR, "a")
    kernel.gone(DIR, "a", shared=True)
    assert not kernel.doubtful(DIR, "a")


def test_changes_made_here_settle_a_name():
    """create/link/rename/unlink through this mount hold the directory exclusively."""
    kernel = KernelNames()
    kernel.told_many(DIR, [("a", 10)])
    kernel.told(DIR, "a", 12, shared=True)
    kernel.told(DIR, "a", 13)  # renamed over here
    assert not kernel.doubtful(DIR, "a") and kernel.believed(DIR, "a") == 13
    kernel.told(DIR, "a", 14, shared=True)  # after our own change: no race with it
    assert not kernel.doubtful(DIR, "a")
    kernel.gone(DIR, "a")
    assert kernel.believed(DIR, "a") is None and not kernel.doubtful(DIR, "a")


def test_answers_far_apart_in_time_are_not_in_doubt(monkeypatch):
    kernel = KernelNames()
    clock = [100.0]
    monkeypatch.setattr(names.time, "monotonic", lambda: clock[0])
    kernel.told(DIR, "a", 10, shared=True)
    clock[0] += names.GRACE + 0.1
    kernel.told(DIR, "a", 11, shared=True)
    assert not kernel.doubtful(DIR, "a") and kernel.believed(DIR, "a") == 11
