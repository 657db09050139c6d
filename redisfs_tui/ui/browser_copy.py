"""Copy out to the local disk and copy in from it: the browser's transfer forms and jobs.

A form whose input fails (a local path that is not there, a name that exists) comes
back with the input and an error naming the path, as the mkfs and connect forms do.
"""

from __future__ import annotations

import os

from textual import work

from ..core import FileSystem
from . import fmt
from .confirm import ConfirmModal
from .entries import Entry
from .form import Field, FormModal
from .job_bar import JobHandle
from .transfer import (
    TransferCancelled,
    TransferResult,
    copy_in,
    copy_out,
    local_conflicts,
    plan_remote,
)
from .view import View


def local_dir_problem(value: str) -> str | None:
    """What is wrong with a copy-out destination typed in the form, naming it, or None."""
    if not value:
        return "Enter a local directory."
    path = os.path.expanduser(value)
    try:
        if not os.path.isdir(path):
            os.stat(path)  # missing or unreadable: say which
            return f"{value}: not a directory"
    except OSError as exc:
        return f"{value}: {exc.strerror}"
    return None


def local_source_problem(value: str) -> str | None:
    """What is wrong with a copy-in source typed in the form, naming it, or None."""
    if not value:
        return "Enter a local file or directory."
    try:
        os.lstat(os.path.expanduser(value))
    except OSError as exc:
        return f"{value}: {exc.strerror}"
    return None


class CopyOps(View):
    """Copy out / copy in; BrowserOps (which mixes this in) provides the state."""

    fs: FileSystem | None
    path: str
    dir_ino: int

    def _ready(self, need_entry: bool = True) -> Entry | bool | None:  # BrowserOps
        raise NotImplementedError

    def _targets(self) -> list[Entry] | None:  # BrowserOps
        raise NotImplementedError

    def reload(self, select: str | None = None) -> None:  # BrowserView
        raise NotImplementedError

    # -- copy out ------------------------------------------------------------------------
    def action_copy_out(self) -> None:
        targets = self._targets()
        if targets:
            self._copy_out_form(targets, os.getcwd())

    def _copy_out_form(self, targets: list[Entry], dest: str, error: str = "") -> None:
        """The copy-out form; after a failure it comes back with the input and the error."""
        what = targets[0].name if len(targets) == 1 else f"{len(targets):,} selected entries"
        form = FormModal(f"Copy {what} to the local disk",
                         [Field("dest", "Local directory", dest, validate=local_dir_problem)],
                         "Copy", note="Files keep their permissions, times and holes.",
                         error=error)
        self.app.push_screen(form, lambda v: self._copy_out_answer(targets, v))

    def _copy_out_answer(self, targets: list[Entry], values: dict | None) -> None:
        if not values:
            return
        what = targets[0].name if len(targets) == 1 else f"{len(targets):,} entries"
        handle = self.rfs.new_job(f"Copying out {what}")
        if handle is not None:
            worker = self._copy_out_worker(handle, targets, str(values["dest"]), self.dir_ino)
            self.rfs.job_bar.begin(handle.title, worker)

    @work(thread=True, exit_on_error=False, name="Copy out", group="job")
    def _copy_out_worker(self, handle: JobHandle, targets: list[Entry], typed: str,
                         parent: int) -> None:
        try:
            self._copy_out(handle, targets, os.path.expanduser(typed), parent)
        except Exception as exc:  # the form again, with the input (and the notification)
            self.app.call_from_thread(self._copy_out_form, targets, typed,
                                      f"{typed}: {fmt.error_text(exc)}")
            raise

    def _copy_out(self, handle: JobHandle, targets: list[Entry], dest: str,
                  parent: int) -> None:
        assert self.fs is not None
        result = TransferResult()
        try:
            plans = [plan_remote(self.fs, e.attr, parent, e.raw, handle.cancelled)
                     for e in targets]
            conflicts = [c for plan in plans for c in local_conflicts(plan, dest)][:1000]
            if conflicts:
                shown = ", ".join(conflicts[:5]) + (" …" if len(conflicts) > 5 else "")
                more = "1000 or more" if len(conflicts) >= 1000 else f"{len(conflicts):,}"
                message = (f"{more} path(s) already exist in {dest}: {shown}\n"
                           "Replace them? Files and symlinks in the way are removed and "
                           "written anew (a symlink is never followed); directories are "
                           "merged into.")
                if not self.ask(ConfirmModal("Overwrite local files?", message, "Overwrite")):
                    self.app.call_from_thread(self.notify, "Copy out cancelled: nothing "
                                              "was overwritten", severity="warning")
                    return
            grand = sum(plan.total for plan in plans)
            for entry, plan in zip(targets, plans, strict=True):
                before = result.bytes

                def progress(done: int, _total: int, label: str, before: int = before) -> None:
                    handle.progress(before + done, grand, label)

                result.add(copy_out(self.fs, entry.attr, entry.name, dest, progress,
                                    handle.cancelled, overwrite=bool(conflicts), plan=plan))
        except TransferCancelled as exc:
            self.app.call_from_thread(self.notify, f"Copy cancelled after {exc}",
                                      severity="warning")
            return
        where = (os.path.join(dest, targets[0].name) if len(targets) == 1
                 else f"{dest} ({len(targets)} entries)")
        self.app.call_from_thread(
            self.notify, f"Copied to {where}: {result.summary()}, {fmt.size(result.bytes)}",
            severity="warning" if result.rejected or result.loops else "information",
            timeout=15 if result.rejected or result.loops else 5)

    # -- copy in -------------------------------------------------------------------------
    def action_copy_in(self) -> None:
        if self._ready(need_entry=False) is not False:
            self._copy_in_form()

    def _copy_in_form(self, src: str = "", error: str = "") -> None:
        """The copy-in form; after a failure it comes back with the input and the error."""
        form = FormModal(f"Copy local files into {self.path}",
                         [Field("src", "Local file or directory", src, placeholder="~/notes",
                                validate=local_source_problem)],
                         "Copy", note="A directory is copied with everything below it.",
                         error=error)
        self.app.push_screen(form, self._copy_in_answer)

    def _copy_in_answer(self, values: dict | None) -> None:
        if not values or not values["src"]:
            return
        typed = str(values["src"])
        src = os.path.expanduser(typed)
        handle = self.rfs.new_job(f"Copying in {os.path.basename(src.rstrip('/'))}")
        if handle is not None:
            worker = self._copy_in_worker(handle, self.dir_ino, typed)
            self.rfs.job_bar.begin(handle.title, worker)

    @work(thread=True, exit_on_error=False, name="Copy in", group="job")
    def _copy_in_worker(self, handle: JobHandle, parent: int, typed: str) -> None:
        assert self.fs is not None
        src = os.path.expanduser(typed)
        name = os.path.basename(src.rstrip("/"))
        try:
            result = copy_in(self.fs, parent, [src], handle.progress, handle.cancelled)
        except TransferCancelled as exc:
            self.app.call_from_thread(self.notify, f"Copy cancelled after {exc}",
                                      severity="warning")
        except Exception as exc:  # the form again, with the input (and the notification)
            self.app.call_from_thread(self._copy_in_form, typed,
                                      f"{typed}: {fmt.error_text(exc)}")
            self.app.call_from_thread(self.reload, name)
            raise
        else:
            self.app.call_from_thread(self.notify, f"Copied in {name}: {result.summary()}, "
                                      f"{fmt.size(result.bytes)}")
        self.app.call_from_thread(self.reload, name)
