"""Format 2 upkeep from the Filesystems view: upgrade a format 1 filesystem, and collect
the block pool's garbage.

A mixin of the Filesystems view (it reuses the view's refusal with live mounts and its
offer to unmount them); the browser calls :func:`offer_upgrade` when it is asked to
open a format 1 filesystem, so that is not a dead end.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from textual import work

from ..core.pool import CANCELLED, GC_MIN_AGE, GcResult, gc_filesystem
from ..core.registry import FsSummary
from ..core.upgrade import UpgradeResult, upgrade
from . import fmt
from .confirm import ConfirmModal
from .job_bar import JobHandle
from .mount_guard import refuse_if_mounted

if TYPE_CHECKING:
    from .app import RedisFsApp
    from .filesystems_view import FilesystemsView

UPGRADE_KEY = "U"
UPGRADE_HOW = (f"press {UPGRADE_KEY} on the Filesystems tab (2), or ctrl+p "
               "\"Upgrade to format 2…\"")
UPGRADE_TEXT = (
    "{prefix} uses the old on-Redis format 1 (a key per block of each file); this redisfs "
    "reads only format 2 (a copy-on-write block pool that snapshots share).\n\n"
    "The upgrade moves every block of {prefix} into a new pool, in batches; the file "
    "contents are not changed, and it is safe to run again if it stops half-way.  The "
    "filesystem must not be mounted meanwhile, and format 1 redisfs cannot mount it "
    "afterwards.")


def state_text(s: FsSummary) -> str:
    """What is worth knowing about a filesystem's format and snapshot state ('' if all is
    usual)."""
    if s.format_version == 1:
        return "upgrade needed"
    if s.incomplete:
        return "incomplete snapshot copy"
    if s.snapshot_to:
        return f"snapshot to {s.snapshot_to} in progress"
    if s.format_version != 2:
        return "unknown format: a newer redisfs wrote it"
    return ""


def format_cell(s: FsSummary) -> str:
    """The format column: the version, and the state after it."""
    state = state_text(s)
    return f"{s.format_version}" + (f" — {state}" if state else "")


def offer_upgrade(app: RedisFsApp, prefix: str) -> None:
    """Ask whether to upgrade ``prefix`` (the browser could not open it: format 1)."""
    view = cast("FilesystemsView", app.view("filesystems"))
    app.push_screen(ConfirmModal(
        "Format 1 filesystem", UPGRADE_TEXT.format(prefix=prefix) +
        f"\n\nUpgrade {prefix} to format 2 now?  (Later: {UPGRADE_HOW}.)", "Upgrade",
        danger=False), lambda ok: ok and view.upgrade_filesystem(prefix, open_after=True))


class UpgradeMixin:
    """``action_upgrade`` and ``action_gc`` for the Filesystems view."""

    rfs: RedisFsApp
    _need: Callable[[], FsSummary | None]
    _launched: Callable[[], list]
    _unless_mounted: Callable[..., None]
    refresh_view: Callable[[], None]

    # -- upgrade ---------------------------------------------------------------------
    def action_upgrade(self) -> None:
        s = self._need()
        if s is None:
            return
        if s.format_version != 1:
            self.rfs.notify(f"{s.prefix} has format {s.format_version}: only format 1 is "
                            "upgraded.", severity="warning")
            return
        self._unless_mounted(s.prefix, "upgrading it", lambda: self._upgrade_confirm(s.prefix))

    def _upgrade_confirm(self, prefix: str) -> None:
        self.rfs.push_screen(
            ConfirmModal("Upgrade to format 2", UPGRADE_TEXT.format(prefix=prefix) +
                         f"\n\nUpgrade {prefix} now?", "Upgrade", danger=False),
            lambda ok: ok and self._upgrade_start(prefix))

    def upgrade_filesystem(self, prefix: str, open_after: bool = False) -> None:
        """Upgrade after the mount check (the caller asked already); ``open_after``: show
        it in the browser when done."""
        self._unless_mounted(prefix, "upgrading it",
                             lambda: self._upgrade_start(prefix, open_after))

    def _upgrade_start(self, prefix: str, open_after: bool = False) -> None:
        handle = self.rfs.new_job(f"Upgrading {prefix} to format 2", unit="blocks")
        if handle is not None:
            self.rfs.job_bar.begin(handle.title,
                                   self._upgrade_worker(prefix, handle, open_after))

    @work(thread=True, exit_on_error=False, name="Upgrade", group="job")
    def _upgrade_worker(self, prefix: str, handle: JobHandle, open_after: bool) -> None:
        handle.note("looking for blocks…")
        if not self.rfs.offline:  # again, right before: a mount may have started
            refuse_if_mounted(self.rfs.client, prefix, self.rfs.spec.url, "upgrade",
                              self._launched())
        try:
            result = upgrade(self.rfs.client, prefix, progress=handle.progress,
                             cancelled=handle.cancelled)
        except OSError as exc:
            if exc.errno == errno.ECANCELED:
                self.rfs.call_from_thread(self.rfs.notify, f"Upgrade of {prefix} stopped: it "
                                          "is still format 1 (run it again to finish)",
                                          severity="warning")
                self.rfs.call_from_thread(self.refresh_view)
                return
            raise
        self.rfs.call_from_thread(self._upgraded, result, open_after)

    def _upgraded(self, result: UpgradeResult, open_after: bool) -> None:
        if result.already:
            self.rfs.notify(f"{result.prefix} was format 2 already")
        else:
            self.rfs.notify(f"Upgraded {result.prefix} to format 2: {result.blocks:,} blocks "
                            f"in {result.seconds:.2f}s")
        self.refresh_view()
        if open_after or self.rfs.current_prefix == result.prefix:
            self.rfs.open_browser(result.prefix)

    # -- garbage collection ------------------------------------------------------------
    def action_gc(self) -> None:
        s = self._need()
        if s is None:
            return
        if s.format_version == 1:
            self.rfs.notify(f"{s.prefix} is format 1 and has no block pool: upgrade it "
                            f"first ({UPGRADE_KEY}).", severity="warning")
            return
        message = (f"Delete the blocks of {s.prefix}'s pool that neither {s.prefix} nor any "
                   "snapshot sharing the pool references (left by deleted snapshots, or by "
                   "writers that stopped between storing a block and committing it).\n"
                   f"Blocks younger than {GC_MIN_AGE // 60} minutes are kept: a writer may be "
                   "about to commit them.  Mounts may stay: nothing referenced is touched, and "
                   "it stands back while a snapshot copy runs.")
        self.rfs.push_screen(ConfirmModal("Collect garbage", message, "Collect"),
                             lambda ok: ok and self._gc_start(s.prefix))

    def _gc_start(self, prefix: str) -> None:
        handle = self.rfs.new_job(f"Collecting garbage of {prefix}'s pool", unit="blocks")
        if handle is not None:
            self.rfs.job_bar.begin(handle.title, self._gc_worker(prefix, handle))

    @work(thread=True, exit_on_error=False, name="Collect garbage", group="job")
    def _gc_worker(self, prefix: str, handle: JobHandle) -> None:
        handle.note("marking referenced blocks…")
        result = gc_filesystem(self.rfs.client, prefix, cancelled=handle.cancelled)
        self.rfs.call_from_thread(self._collected, prefix, result)

    def _collected(self, prefix: str, result: GcResult | None) -> None:
        if result is None:
            self.rfs.notify(f"{prefix} has no block pool (gone, or format 1).",
                            severity="warning")
            return
        if result.aborted == CANCELLED:
            self.rfs.notify("Garbage collection stopped: nothing was deleted.",
                            title="Garbage collection", severity="warning")
            return
        if result.aborted:
            self.rfs.notify(f"Nothing collected: {result.aborted}.  Try again later.",
                            title="Garbage collection", severity="warning", timeout=10)
            return
        shared = ", ".join(result.members) or "no filesystem"
        young = (f"; {result.young:,} younger than {GC_MIN_AGE // 60} min kept (run it again "
                 "later)" if result.young else "")
        self.rfs.notify(f"Deleted {result.deleted:,} unreferenced block(s) "
                        f"({fmt.size(result.freed_bytes)}) of pool "
                        f"{result.pool} ({result.scanned:,} scanned, {result.referenced:,} "
                        f"referenced by {shared}){young}", title="Garbage collection",
                        timeout=12)
        self.refresh_view()
