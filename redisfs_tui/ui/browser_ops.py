"""File operations of the browser: new dir, delete, chmod, du, $PAGER/$EDITOR (rename,
move and copy within: :mod:`.browser_move`; copy out and in: :mod:`.browser_copy`).

Every change asks first (a modal), runs in a thread worker and reloads the
listing; deleting a tree and copying are jobs with progress and Cancel.
"""

from __future__ import annotations

import errno
import os
import posixpath
import subprocess
import time
from typing import TYPE_CHECKING

from textual import work
from textual.app import SuspendNotSupported

from ..core import FileSystem, FsError
from . import fmt
from .browser_move import MoveOps, check_name
from .confirm import ConfirmModal
from .entries import Entry
from .external import command, fetch, store_back
from .form import Field, FormModal
from .job_bar import JobHandle
from .transfer import TransferCancelled, remove_tree
from .usage import Usage, disk_usage

if TYPE_CHECKING:
    from .entry_list import EntryList


class BrowserOps(MoveOps):
    """Actions on the entry under the cursor; BrowserView provides the state."""

    fs: FileSystem | None
    path: str
    dir_ino: int

    @property
    def entry_list(self) -> EntryList:  # provided by BrowserView
        raise NotImplementedError

    def reload(self, select: str | None = None) -> None:  # provided by BrowserView
        raise NotImplementedError

    def _ready(self, need_entry: bool = True) -> Entry | bool | None:
        if self.fs is None:
            self.notify("Open a filesystem first (Filesystems tab).", severity="warning")
            return False
        entry = self.entry_list.current
        if need_entry and entry is None:
            self.notify("Nothing selected.", severity="warning")
            return False
        return entry if need_entry else True

    # -- new directory -------------------------------------------------------------
    def action_mkdir(self) -> None:
        if self._ready(need_entry=False) is False:
            return
        form = FormModal(f"New directory in {self.path}",
                         [Field("name", "Name", validate=check_name)], "Create")
        self.app.push_screen(form, self._mkdir_answer)

    def _mkdir_answer(self, values: dict | None) -> None:
        if values:
            self._mkdir_worker(self.dir_ino, str(values["name"]))

    @work(thread=True, exit_on_error=False, name="New directory")
    def _mkdir_worker(self, parent: int, name: str) -> None:
        assert self.fs is not None
        self.fs.mkdir(parent, name, 0o755, os.getuid(), os.getgid())
        self.app.call_from_thread(self.notify, f"Created {name}/")
        self.app.call_from_thread(self.reload, name)

    # -- delete ------------------------------------------------------------------------
    def _targets(self) -> list[Entry] | None:
        """The selected entries (space / v), else the one under the cursor."""
        if self._ready(need_entry=False) is False:
            return None
        marked = self.entry_list.marked_entries
        if marked:
            return marked
        entry = self._ready()
        return [entry] if isinstance(entry, Entry) else None

    def action_delete(self) -> None:
        targets = self._targets()
        if not targets:
            return
        if len(targets) > 1:
            self._confirm_bulk_delete(targets)
            return
        entry = targets[0]
        path = posixpath.join(self.path, entry.name)
        if entry.attr.is_dir:
            message = (f"Delete the directory {path} and everything below it?\n"
                       "This cannot be undone (take a snapshot first if unsure).")
        else:
            links = entry.attr.nlink
            extra = (f"\nThe inode has {links} names; the data stays until the last goes."
                     if links > 1 else "")
            message = f"Delete the {fmt.kind(entry.attr.mode)} {path}?{extra}"
        self.app.push_screen(ConfirmModal("Delete", message),
                             lambda ok: self._delete_answer(entry, ok))

    def _confirm_bulk_delete(self, targets: list[Entry]) -> None:
        dirs = sum(1 for e in targets if e.attr.is_dir)
        shown = ", ".join(e.name + ("/" if e.attr.is_dir else "") for e in targets[:6])
        more = f" and {len(targets) - 6:,} more" if len(targets) > 6 else ""
        below = (f" ({dirs} of them directories, with everything below them)" if dirs
                 else "")
        message = (f"Delete {len(targets):,} selected entries in {self.path}{below}?\n"
                   f"{shown}{more}\n"
                   "This cannot be undone (take a snapshot first if unsure).")
        self.app.push_screen(ConfirmModal(f"Delete {len(targets):,} entries", message,
                                          f"Delete {len(targets):,}"),
                             lambda ok: self._bulk_delete_answer(targets, ok))

    def _delete_answer(self, entry: Entry, ok: bool | None) -> None:
        if not ok or self.fs is None:
            return
        if entry.attr.is_dir:
            handle = self.rfs.new_job(f"Deleting {entry.name}/", unit="entries")
            if handle is None:
                return
            worker = self._delete_tree_worker(handle, self.dir_ino, entry)
            self.rfs.job_bar.begin(handle.title, worker)
        else:
            self._unlink_worker(self.dir_ino, entry)

    def _bulk_delete_answer(self, targets: list[Entry], ok: bool | None) -> None:
        if not ok or self.fs is None:
            return
        handle = self.rfs.new_job(f"Deleting {len(targets):,} entries", unit="entries")
        if handle is not None:
            worker = self._bulk_delete_worker(handle, self.dir_ino, targets)
            self.rfs.job_bar.begin(handle.title, worker)

    @work(thread=True, exit_on_error=False, name="Delete selected", group="job")
    def _bulk_delete_worker(self, handle: JobHandle, parent: int, targets: list[Entry]) -> None:
        assert self.fs is not None
        done, failed = 0, []
        try:
            for entry in targets:
                if handle.cancelled():
                    raise TransferCancelled(f"{done} of {len(targets)} entries")
                try:
                    if entry.attr.is_dir:
                        remove_tree(self.fs, parent, entry.raw, handle.progress,
                                    handle.cancelled)
                    else:
                        self.fs.unlink(parent, entry.raw, expect=entry.attr.ino)
                        handle.progress(done + 1, len(targets), entry.name)
                except FsError as exc:
                    failed.append(f"{entry.name}: {fmt.error_text(exc)}")
                else:
                    done += 1
        except TransferCancelled as exc:
            self.app.call_from_thread(self.notify, f"Delete cancelled after {exc}",
                                      severity="warning")
        else:
            text = f"Deleted {done} of {len(targets)} entries"
            if failed:
                text += "; not deleted: " + "; ".join(failed[:3])
            self.app.call_from_thread(self.notify, text,
                                      severity="warning" if failed else "information",
                                      timeout=15 if failed else 5)
        self.app.call_from_thread(self.reload)

    @work(thread=True, exit_on_error=False, name="Delete")
    def _unlink_worker(self, parent: int, entry: Entry) -> None:
        assert self.fs is not None
        self.fs.unlink(parent, entry.raw)
        self.app.call_from_thread(self.notify, f"Deleted {entry.name}")
        self.app.call_from_thread(self.reload)

    @work(thread=True, exit_on_error=False, name="Delete tree", group="job")
    def _delete_tree_worker(self, handle: JobHandle, parent: int, entry: Entry) -> None:
        assert self.fs is not None
        try:
            count = remove_tree(self.fs, parent, entry.raw, handle.progress, handle.cancelled)
        except TransferCancelled as exc:
            self.app.call_from_thread(self.notify, f"Delete cancelled after {exc}",
                                      severity="warning")
        else:
            self.app.call_from_thread(self.notify, f"Deleted {entry.name}/ ({count} entries)")
        self.app.call_from_thread(self.reload)

    # -- chmod ---------------------------------------------------------------------------
    def action_chmod(self) -> None:
        entry = self._ready()
        if not entry:
            return
        current = f"{entry.attr.mode & 0o7777:o}"

        def valid(text: str) -> str | None:
            try:
                fmt.parse_mode(text)
            except ValueError as exc:
                return str(exc)
            return None

        form = FormModal(f"Permissions of {entry.name} ({fmt.filemode(entry.attr.mode)})",
                         [Field("mode", "Octal mode", current, validate=valid)], "Apply")
        self.app.push_screen(form, lambda v: self._chmod_answer(entry, v))

    def _chmod_answer(self, entry: Entry, values: dict | None) -> None:
        if values:
            self._chmod_worker(entry, fmt.parse_mode(str(values["mode"])))

    @work(thread=True, exit_on_error=False, name="Chmod")
    def _chmod_worker(self, entry: Entry, mode: int) -> None:
        assert self.fs is not None
        attr = self.fs.chmod(entry.attr.ino, mode)
        self.app.call_from_thread(self.notify,
                                  f"{entry.name} is now {fmt.filemode(attr.mode)}")
        self.app.call_from_thread(self.reload, entry.name)

    # -- du ------------------------------------------------------------------------------
    def action_usage(self) -> None:
        entry = self._ready()
        if not entry:
            return
        handle = self.rfs.new_job(f"Size of {entry.name}", unit="entries")
        if handle is not None:
            worker = self._usage_worker(handle, entry, posixpath.join(self.path, entry.name))
            self.rfs.job_bar.begin(handle.title, worker)

    @work(thread=True, exit_on_error=False, name="Size", group="job")
    def _usage_worker(self, handle: JobHandle, entry: Entry, path: str) -> None:
        assert self.fs is not None

        last = [0.0]

        def progress(usage: Usage, where: str) -> None:
            if time.monotonic() - last[0] >= 0.1:  # each note waits for the UI thread
                last[0] = time.monotonic()
                handle.note(f"{fmt.size(usage.bytes)} in {usage.entries:,} entries  {where}")

        try:
            usage = disk_usage(self.fs, entry.attr, entry.name, handle.cancelled, progress)
        except TransferCancelled as exc:
            self.app.call_from_thread(self.notify, f"Size of {path} cancelled after {exc}",
                                      severity="warning")
            return
        text = (f"{path}: {fmt.size(usage.bytes)} ({usage.bytes:,} bytes) in "
                f"{usage.files:,} files, {usage.dirs:,} directories")
        if usage.others:
            text += f", {usage.others:,} other entries"
        if usage.loops:
            text += f"; {len(usage.loops)} directory loops not followed: run fsck"
        self.app.call_from_thread(self.notify, text, title="Size", timeout=15,
                                  severity="warning" if usage.loops else "information")

    # -- $PAGER and $EDITOR ------------------------------------------------------------
    def action_view(self) -> None:
        self._external("pager")

    def action_edit(self) -> None:
        self._external("editor")

    def _external(self, kind: str) -> None:
        entry = self._ready()
        if not entry:
            return
        if not entry.attr.is_reg:
            self.notify(f"{posixpath.join(self.path, entry.name)} is not a regular file",
                        severity="warning")
            return
        verb = "Viewing" if kind == "pager" else "Editing"
        handle = self.rfs.new_job(f"{verb} {entry.name}")
        if handle is not None:
            worker = self._external_worker(handle, kind, entry, self.path)
            self.rfs.job_bar.begin(handle.title, worker)

    def _run_suspended(self, argv: list[str]) -> int:
        """On the app's thread: hand the terminal to ``argv`` until it exits."""
        try:
            with self.app.suspend():
                return subprocess.run(argv, check=False).returncode
        except SuspendNotSupported:
            if not self.app.is_headless:
                raise FsError(errno.EOPNOTSUPP, "this terminal cannot be handed over to "
                              "another program") from None
            # headless (tests, scripts): nothing to hand over, the program runs as is
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  check=False).returncode

    @work(thread=True, exit_on_error=False, name="Pager or editor", group="job")
    def _external_worker(self, handle: JobHandle, kind: str, entry: Entry, cwd: str) -> None:
        assert self.fs is not None
        argv = command(kind)
        path = posixpath.join(cwd, entry.name)
        try:
            copy = fetch(self.fs, entry.attr.ino, entry.raw, handle.progress, handle.cancelled,
                         read_only=kind == "pager")
        except TransferCancelled as exc:
            self.app.call_from_thread(self.notify, f"Cancelled after {exc}", severity="warning")
            return
        keep = False
        try:
            status = self.app.call_from_thread(self._run_suspended, [*argv, copy.path])
            if kind == "pager":
                return
            if not copy.changed_locally():
                self.app.call_from_thread(self.notify, f"No changes to {path}")
                return
            if status != 0:
                keep = True
                self.app.call_from_thread(
                    self.notify, f"{argv[0]} exited with status {status}: nothing written to "
                    f"{path}; your version is kept in {copy.path}", severity="warning",
                    timeout=20)
                return
            try:
                size = store_back(self.fs, copy)
            except FsError as exc:
                keep = True
                self.app.call_from_thread(self.notify, f"Not saved: {path}: "
                                          f"{fmt.error_text(exc)}", severity="error",
                                          timeout=30)
                return
            self.app.call_from_thread(self.notify, f"Saved {path} ({fmt.size(size)})")
            self.app.call_from_thread(self.reload, entry.name)
        finally:
            if not keep:
                copy.discard()
