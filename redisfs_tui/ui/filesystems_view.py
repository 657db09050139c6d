"""Filesystems on the server (found by their superblocks): create, delete, snapshot,
restore, diff, upgrade, collect garbage, and open one in the browser."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ..core import FileSystem
from ..core.keys import valid_prefix
from ..core.registry import FsSummary, MountRecord, delete_filesystem, list_filesystems, list_mounts
from ..core.snapshot import default_snapshot_name, restore, snapshot
from . import fmt
from .confirm import ConfirmModal
from .diff_screen import DiffScreen
from .form import Field, FormModal
from .migrate_form import MigrateMixin
from .mount_control import LaunchedMount, MountError, unmount
from .mount_guard import LiveMount, live_mounts, refuse_if_mounted
from .typed_confirm import TypedConfirmModal
from .upgrade_actions import UPGRADE_KEY, UpgradeMixin, format_cell, state_text
from .view import TableView

COLUMNS = ("prefix", "inodes", "stored", "logical", "ratio", "codec", "block", "created",
           "snapshot of", "mounts", "format")
CODECS = [("zstd (default)", "zstd"), ("zlib", "zlib"), ("raw (no compression)", "raw")]
BLOCK_SIZES = [(fmt.size(n), str(n)) for n in (32 << 10, 64 << 10, 128 << 10, 256 << 10,
                                               1 << 20)]


def check_prefix(value: str) -> str | None:
    if not valid_prefix(value):
        return "use 1-64 characters from A-Z a-z 0-9 _ . -"
    return None


class FilesystemsView(MigrateMixin, UpgradeMixin, TableView):
    """A table of FsSummary rows; the selected row is the target of every action
    (migration from the C redisfs: MigrateMixin; format upgrade and pool GC:
    UpgradeMixin)."""

    COLUMNS = COLUMNS
    TABLE_ID = "fs-table"
    DETAIL_ID = "fs-detail"
    BINDINGS: ClassVar = [
        Binding("enter", "open", "Open", id="filesystems.open"),
        Binding("n", "mkfs", "New", id="filesystems.mkfs"),
        Binding("d,delete", "delete", "Delete", id="filesystems.delete"),
        Binding("s", "snapshot", "Snapshot", id="filesystems.snapshot"),
        Binding("r", "restore", "Restore", id="filesystems.restore"),
        Binding("D", "diff", "Diff", id="filesystems.diff"),
        Binding(UPGRADE_KEY, "upgrade", "Upgrade", id="filesystems.upgrade"),
    ]

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.summaries: list[FsSummary] = []

    @work(thread=True, exclusive=True, group="filesystems", exit_on_error=False,
          name="List filesystems")
    def _load_worker(self) -> None:
        summaries = list_filesystems(self.rfs.client)
        mounts = list_mounts(self.rfs.client)
        self.app.call_from_thread(self.show, summaries, mounts)

    def show(self, summaries: list[FsSummary], mounts: list[MountRecord]) -> None:
        """Fill the table (tests pass normalised copies for stable screenshots)."""
        selected = self.selected
        keep = selected.prefix if selected else self.rfs.current_prefix
        summaries = sorted(summaries, key=lambda s: fmt.natural_key(s.prefix))  # fs2 < fs10
        self.summaries = summaries
        live = Counter(m.prefix for m in mounts if m.alive)
        table = self.query_one(DataTable)
        table.clear()
        for s in summaries:
            table.add_row(
                Text(s.prefix, style="bold"), Text(f"{s.inodes:,}", justify="right"),
                Text(fmt.size(s.stored_bytes), justify="right"),
                Text(fmt.size(s.logical_bytes), justify="right"),
                Text(fmt.ratio(s.logical_bytes, s.stored_bytes), justify="right"),
                Text(s.codec), Text(fmt.size(s.block_size)),
                Text(fmt.age(s.created_ns, self.rfs.now())), Text(s.snapshot_of),
                Text(str(live[s.prefix]) if live[s.prefix] else "", style="bold green"),
                Text(format_cell(s), style="bold yellow" if state_text(s) else ""),
                key=s.prefix)
        if keep and any(s.prefix == keep for s in summaries):
            table.move_cursor(row=table.get_row_index(keep))
        self._detail()

    @property
    def selected(self) -> FsSummary | None:
        table = self.query_one(DataTable)
        if not 0 <= table.cursor_row < table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((s for s in self.summaries if s.prefix == key), None)

    def on_data_table_row_highlighted(self) -> None:
        self._detail()

    def on_data_table_row_selected(self) -> None:
        self.action_open()

    def _detail(self) -> None:
        s = self.selected
        detail = self.query_one("#fs-detail", Static)
        if s is None:
            detail.update("No filesystems on this server yet: press n to create one.")
            return
        state = state_text(s)
        if s.format_version == 1:
            state += f": press {UPGRADE_KEY}"
        detail.update(Text.assemble(
            (s.prefix, "bold"), f"  format v{s.format_version}",
            (f" — {state}" if state else "", "bold yellow"), f" · uuid {s.uuid} · created "
            f"{fmt.timestamp(s.created_ns)}" + (f" · snapshot of {s.snapshot_of}"
                                                if s.snapshot_of else ""), style="dim"))

    def _need(self) -> FsSummary | None:
        s = self.selected
        if s is None:
            self.notify("No filesystem selected.", severity="warning")
        return s

    # -- actions -----------------------------------------------------------------------
    def action_open(self) -> None:
        if s := self._need():
            self.rfs.open_browser(s.prefix)

    def action_mkfs(self, values: dict | None = None, error: str = "") -> None:
        """The mkfs form; after a failure it comes back with the input and the error."""
        v = values or {}
        fields = [Field("prefix", "Prefix (the key namespace)", v.get("prefix", ""),
                        validate=check_prefix),
                  Field("codec", "Compression", v.get("codec", "zstd"), options=CODECS),
                  Field("block_size", "Block size", v.get("block_size", str(128 << 10)),
                        options=BLOCK_SIZES)]
        self.app.push_screen(FormModal("New filesystem (mkfs)", fields, "Create",
                                       error=error), self._mkfs_answer)

    def _mkfs_answer(self, values: dict | None) -> None:
        if values:
            self._mkfs_worker(str(values["prefix"]), str(values["codec"]),
                              int(values["block_size"]))

    @work(thread=True, exit_on_error=False, name="mkfs")
    def _mkfs_worker(self, prefix: str, codec: str, block_size: int) -> None:
        try:
            FileSystem.mkfs(self.rfs.client, prefix, codec=codec, block_size=block_size)
        except Exception as exc:  # the form again, with the input (and the notification)
            values = {"prefix": prefix, "codec": codec, "block_size": str(block_size)}
            self.app.call_from_thread(self.action_mkfs, values,
                                      f"{prefix}: {fmt.error_text(exc)}")
            raise
        self.rfs.current_prefix = prefix
        self.app.call_from_thread(self.notify, f"Created filesystem {prefix}")
        self.app.call_from_thread(self.refresh_view)

    # -- live mounts block delete and restore -------------------------------------------
    def _launched(self) -> list[LaunchedMount]:
        from .mounts_view import MountsView  # the sibling view keeps the launched daemons

        return list(self.app.query_one(MountsView).launched)

    def _unless_mounted(self, prefix: str, doing: str, then: Callable[[], None],
                        refused: Callable[[str], None] | None = None) -> None:
        """Run ``then`` when ``prefix`` has no live mount; else say where it is mounted
        (also to ``refused``: a form comes back with it) and offer to unmount the mounts
        on this host.  Offline (--rdb) the records are the dump's: nothing to check."""
        if self.rfs.offline:
            then()
        else:
            self._mounts_worker(prefix, doing, then, refused)

    @work(thread=True, exclusive=True, group="fs-mounts", exit_on_error=False,
          name="Check mounts")
    def _mounts_worker(self, prefix: str, doing: str, then: Callable[[], None],
                       refused: Callable[[str], None] | None = None) -> None:
        live = live_mounts(self.rfs.client, prefix, self.rfs.spec.url, self._launched())
        self.app.call_from_thread(self._mounts_checked, prefix, doing, then, live, refused)

    def _mounts_checked(self, prefix: str, doing: str, then: Callable[[], None],
                        live: list[LiveMount],
                        refused: Callable[[str], None] | None = None) -> None:
        if not live:
            then()
            return
        here = [m for m in live if m.here]
        where = "\n".join(f"  {m}" for m in live[:5]) + ("\n  …" if len(live) > 5 else "")
        message = (f"{prefix} is mounted:\n{where}\n{doing.capitalize()} is refused while "
                   "it is mounted: the mount would go on serving a filesystem that changes "
                   "under it.")
        if not here:
            self.notify(f"{message} Unmount it on that host first.", title="Mounted",
                        severity="error", timeout=12)
            if refused is not None:
                refused(f"{message} Unmount it on that host first.")
            return
        others = len(live) - len(here)
        message += (f"\n\nUnmount the {len(here)} mount(s) on this host now?" +
                    (f" ({others} on other hosts must be unmounted there.)" if others else ""))
        self.app.push_screen(
            ConfirmModal("Filesystem is mounted", message, "Unmount", danger=False),
            lambda ok: ok and self._unmount_worker(prefix, here, doing, then))

    @work(thread=True, exclusive=True, group="fs-mounts", exit_on_error=False,
          name="Unmount")
    def _unmount_worker(self, prefix: str, mounts: list[LiveMount], doing: str,
                        then: Callable[[], None]) -> None:
        for m in mounts:
            try:
                unmount(m.mountpoint, m.host)
            except MountError as exc:
                self.app.call_from_thread(self.notify, f"Cannot unmount {m.mountpoint}: "
                                          f"{exc}", severity="error", timeout=10)
                return
            self.app.call_from_thread(self.notify, f"Unmounted {m.mountpoint}")
        # a daemon removes its record as it exits: give it a moment, then check again
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
                m.here for m in live_mounts(self.rfs.client, prefix, self.rfs.spec.url,
                                            self._launched())):
            time.sleep(0.1)
        self.app.call_from_thread(self._unless_mounted, prefix, doing, then)

    # -- delete ------------------------------------------------------------------------
    def action_delete(self) -> None:
        s = self._need()
        if s is not None:
            self._unless_mounted(s.prefix, "deleting it", lambda: self._delete_confirm(s))

    def _delete_confirm(self, s: FsSummary) -> None:
        message = (f"Delete filesystem {s.prefix}: {s.inodes:,} inodes, "
                   f"{fmt.size(s.logical_bytes)} of data, every key under {{{s.prefix}}}:*.\n"
                   "This cannot be undone.")
        self.app.push_screen(TypedConfirmModal("Delete filesystem", message, s.prefix),
                             lambda ok: ok and self._delete_start(s.prefix))

    def _delete_start(self, prefix: str) -> None:
        handle = self.rfs.new_job(f"Deleting filesystem {prefix}")
        if handle is not None:
            self.rfs.job_bar.begin(handle.title, self._delete_worker(prefix))

    @work(thread=True, exit_on_error=False, name="Delete filesystem", group="job")
    def _delete_worker(self, prefix: str) -> None:
        # the core refuses (EBUSY, naming the mount) if a mount appeared since the check;
        # offline the records are the dump's and no mount can reach the throw-away copy
        removed = delete_filesystem(self.rfs.client, prefix, force=bool(self.rfs.offline))
        self.app.call_from_thread(self.rfs.filesystem_deleted, prefix)
        self.app.call_from_thread(self.notify, f"Deleted {prefix} ({removed:,} keys)")
        self.app.call_from_thread(self.refresh_view)

    def action_snapshot(self) -> None:
        s = self._need()
        if s is not None:
            self._snapshot_form(s.prefix)

    def _snapshot_form(self, source: str, target: str = "", error: str = "") -> None:
        """The snapshot form; after a failure it comes back with the input and the error
        (as the mkfs form does)."""
        fields = [Field("target", "Snapshot prefix", target or default_snapshot_name(source),
                        validate=check_prefix)]
        note = "A point-in-time copy made inside Redis in one step; it mounts like any other."
        self.app.push_screen(FormModal(f"Snapshot {source}", fields, "Snapshot", note,
                                       error=error),
                             lambda v: v and self._snapshot_start(source, str(v["target"])))

    def _snapshot_start(self, source: str, target: str) -> None:
        handle = self.rfs.new_job(f"Snapshot {source} -> {target}")
        if handle is not None:
            self.rfs.job_bar.begin(handle.title, self._snapshot_worker(source, target))

    @work(thread=True, exit_on_error=False, name="Snapshot", group="job")
    def _snapshot_worker(self, source: str, target: str) -> None:
        try:
            result = snapshot(self.rfs.client, source, target)
        except Exception as exc:  # the form again, with the input (and the notification)
            self.app.call_from_thread(self._snapshot_form, source, target,
                                      f"{target}: {fmt.error_text(exc)}")
            raise
        self.app.call_from_thread(
            self.notify, f"Snapshot {target}: {result.inodes:,} inodes in {result.seconds:.2f}s")
        self.app.call_from_thread(self.refresh_view)

    def action_restore(self) -> None:
        s = self._need()
        if s is None:
            return
        if not s.snapshot_of:
            self.notify(f"{s.prefix} is not a snapshot: select a snapshot to restore from.",
                        severity="warning")
            return
        self._restore_form(s.prefix, s.snapshot_of)

    def _restore_form(self, snap: str, target: str, error: str = "") -> None:
        """The restore form; after a failure it comes back with the input and the error."""
        def check_target(value: str) -> str | None:
            if value == snap:  # restore wipes the target first: that would empty the snapshot
                return f"{value} is the snapshot itself: restore it into another filesystem"
            return check_prefix(value)

        fields = [Field("target", "Restore into (replaces its contents)", target,
                        validate=check_target)]
        self.app.push_screen(FormModal(f"Restore {snap}", fields, "Next…", error=error),
                             lambda v: v and self._restore_answer(snap, str(v["target"])))

    def _restore_answer(self, snap: str, target: str) -> None:
        self._unless_mounted(target, "restoring into it",
                             lambda: self._restore_confirm(snap, target),
                             lambda error: self._restore_form(snap, target, error))

    def _restore_confirm(self, snap: str, target: str) -> None:
        message = (f"Replace the whole contents of {target} with snapshot {snap}?\n"
                   f"Everything written to {target} since the snapshot is lost.")
        self.app.push_screen(ConfirmModal("Restore snapshot", message, "Restore"),
                             lambda ok: ok and self._restore_start(snap, target))

    def _restore_start(self, snap: str, target: str) -> None:
        handle = self.rfs.new_job(f"Restore {snap} -> {target}")
        if handle is not None:
            self.rfs.job_bar.begin(handle.title, self._restore_worker(snap, target))

    @work(thread=True, exit_on_error=False, name="Restore", group="job")
    def _restore_worker(self, snap: str, target: str) -> None:
        try:
            if not self.rfs.offline:  # again, right before: a mount may have started
                refuse_if_mounted(self.rfs.client, target, self.rfs.spec.url, "restore",
                                  self._launched())
            result = restore(self.rfs.client, snap, target)
        except Exception as exc:  # the form again, with the input (and the notification)
            self.app.call_from_thread(self._restore_form, snap, target,
                                      f"{target}: {fmt.error_text(exc)}")
            raise
        self.app.call_from_thread(self.notify, f"Restored {target} from {snap}: "
                                  f"{result.inodes:,} inodes")
        self.app.call_from_thread(self.rfs.filesystem_changed, target)
        self.app.call_from_thread(self.refresh_view)

    def action_diff(self) -> None:
        s = self._need()
        if s is None:
            return
        options = [(x.prefix, x.prefix) for x in self.summaries]
        older = s.snapshot_of if any(x.prefix == s.snapshot_of for x in self.summaries) \
            else s.prefix
        fields = [Field("a", "From (older)", older, options=options),
                  Field("b", "To (newer)", s.prefix, options=options)]
        self.app.push_screen(FormModal("Diff two filesystems", fields, "Diff"),
                             lambda v: v and self.app.push_screen(
                                 DiffScreen(str(v["a"]), str(v["b"]))))
