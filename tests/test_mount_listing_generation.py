"""MetaCache's directory generations: a listing fetched from Redis is kept only if this
mount changed the directory in no way meanwhile, so every change must count."""

from __future__ import annotations

import sys
import threading

from redisfs_tui.mount import caches
from redisfs_tui.mount.caches import MetaCache

DIR = 5


def test_changes_from_many_threads_are_all_counted():
    """Two threads counting one change each must not count one: a listing fetched
    between them would be kept without the second change's name (read-modify-write of
    the counter lost 27 % of 160,000 changes with a short switch interval)."""
    cache = MetaCache(2.0)
    threads, each = 8, 20_000
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=lambda: [cache.name_added(DIR, "x")
                                                    for _ in range(each)])
                   for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert cache.generation(DIR) == threads * each


def test_a_listing_from_before_a_change_is_not_kept():
    cache = MetaCache(2.0)
    before = cache.generation(DIR)
    cache.name_added(DIR, "new")  # landed after the listing was fetched
    cache.listing_from_readdir(DIR, [("old", 7)], before)
    assert cache.cached_listing(DIR) is None
    assert cache.listings.get(DIR) is None


def test_wiping_the_counts_keeps_old_generations_from_matching(monkeypatch):
    monkeypatch.setattr(caches, "MAX_ENTRIES", 3)
    cache = MetaCache(2.0)
    cache.name_added(DIR, "a")
    before = cache.generation(DIR)  # a listing starts
    for other in (11, 12, 13):  # more directories than the bound: the counts go
        cache.name_removed(other, "b")
    cache.name_added(DIR, "c")  # DIR counts 1 again, as it did at ``before``
    cache.listing_from_readdir(DIR, [("a", 7)], before)
    assert cache.listings.get(DIR) is None  # kept, it would answer "no c" for 2 s
