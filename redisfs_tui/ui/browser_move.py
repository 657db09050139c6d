"""Rename, move and copy inside the filesystem: the browser's forms and workers.

A refused name or path brings its form back with the input and the error (the mkfs
mechanism): ``reopen(input, error)`` is handed to the worker.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from textual import work

from ..core import RENAME_NOREPLACE, FsError
from ..core.fs import encode_name
from . import fmt
from .browser_copy import CopyOps
from .entries import Entry
from .form import Field, FormModal
from .job_bar import JobHandle
from .remote_copy import Source, destination, move
from .remote_copy import copy as copy_within
from .transfer import TransferCancelled

Reopen = Callable[[str, str], None]  # (the input, the error): the form again


def check_name(value: str) -> str | None:
    try:
        encode_name(value)
    except OSError as exc:
        return f"invalid name: {exc.strerror}"
    return None


def check_path(value: str) -> str | None:
    """A name, or a path whose every component is a valid name."""
    if not value.strip():
        return "give a name or a path"
    if "/" not in value:
        return check_name(value)
    for part in value.split("/"):
        if part and part not in (".", ".."):
            problem = check_name(part)
            if problem:
                return problem
    return None


class MoveOps(CopyOps):
    """Rename / move / copy within; BrowserOps (which mixes this in) provides the state."""

    def action_rename(self) -> None:
        entry = self._ready()
        if isinstance(entry, Entry):
            self._rename_form(entry)

    def _rename_form(self, entry: Entry, name: str | None = None, error: str = "") -> None:
        form = FormModal(f"Rename {entry.name}",
                         [Field("name", "New name or path",
                                entry.name if name is None else name, validate=check_path)],
                         "Rename",
                         note="A name renames in place; a path with '/' (absolute, or "
                              "relative to this directory) moves it, into a directory that "
                              "exists or under a new name.", error=error)
        self.app.push_screen(form, lambda v: self._rename_answer(entry, v))

    def _rename_answer(self, entry: Entry, values: dict | None) -> None:
        if not values or values["name"] == entry.name:
            return
        new = str(values["name"])

        def reopen(text: str, error: str) -> None:
            self._rename_form(entry, text, error)

        if "/" in new:
            self._move_worker([entry], new, self.dir_ino, self.path, reopen)
        else:
            self._rename_worker(self.dir_ino, entry.raw, new, reopen)

    @work(thread=True, exit_on_error=False, name="Rename")
    def _rename_worker(self, parent: int, old: bytes, new: str, reopen: Reopen) -> None:
        assert self.fs is not None
        try:
            self.fs.rename(parent, old, parent, new, RENAME_NOREPLACE)
        except FsError as exc:  # the form again, with the input (and the notification)
            self.app.call_from_thread(reopen, new, f"{new}: {fmt.error_text(exc)}")
            raise
        self.app.call_from_thread(self.notify, f"Renamed {fmt.decode_name(old)} to {new}")
        self.app.call_from_thread(self.reload, new)

    def _where_form(self, verb: str, targets: list[Entry], then: Callable[[str], object],
                    dest: str | None = None, error: str = "") -> None:
        """Ask where to move or copy ``targets``; ``then(path typed)``."""
        what = targets[0].name if len(targets) == 1 else f"{len(targets):,} selected entries"
        label = ("Directory (or, for one entry, a new path)" if len(targets) == 1
                 else "Directory")
        form = FormModal(f"{verb} {what} to",
                         [Field("dest", label, self.path if dest is None else dest,
                                validate=check_path)], verb,
                         note="A path in this filesystem, absolute or relative to "
                              f"{self.path}. Existing names are never replaced.", error=error)
        self.app.push_screen(form, lambda v: v and then(str(v["dest"])))

    def action_move(self) -> None:
        targets = self._targets()
        if targets:
            self._move_form(targets)

    def _move_form(self, targets: list[Entry], dest: str | None = None,
                   error: str = "") -> None:
        def reopen(text: str, problem: str) -> None:
            self._move_form(targets, text, problem)

        self._where_form("Move", targets, lambda text: self._move_worker(
            targets, text, self.dir_ino, self.path, reopen), dest, error)

    @work(thread=True, exit_on_error=False, name="Move")
    def _move_worker(self, targets: list[Entry], text: str, parent: int, cwd: str,
                     reopen: Reopen) -> None:
        assert self.fs is not None
        try:
            dest = destination(self.fs, cwd, text, many=len(targets) > 1)
        except FsError as exc:  # the form again, with the input (and the notification)
            self.app.call_from_thread(reopen, text, fmt.error_text(exc))
            raise
        moved, failed = move(self.fs, [Source(parent, e.raw, e.attr) for e in targets], dest)
        what = targets[0].name if len(targets) == 1 else f"{moved} of {len(targets)} entries"
        where = (posixpath.join(dest.dir_path, fmt.decode_name(dest.name)) if dest.name
                 else dest.dir_path)
        if moved:
            note = f"Moved {what} to {where}"
            if failed:
                note += "; not moved: " + "; ".join(failed[:3])
        else:
            note = "Nothing moved: " + "; ".join(failed[:3])
            self.app.call_from_thread(reopen, text, note)
        self.app.call_from_thread(self.notify, note,
                                  severity="warning" if failed else "information",
                                  timeout=15 if failed else 5)
        self.app.call_from_thread(self.reload)

    def action_copy_within(self) -> None:
        targets = self._targets()
        if targets:
            self._copy_within_form(targets)

    def _copy_within_form(self, targets: list[Entry], dest: str | None = None,
                          error: str = "") -> None:
        self._where_form("Copy", targets, lambda text: self._copy_within_answer(targets, text),
                         dest, error)

    def _copy_within_answer(self, targets: list[Entry], text: str) -> None:
        what = targets[0].name if len(targets) == 1 else f"{len(targets):,} entries"
        handle = self.rfs.new_job(f"Copying {what}")
        if handle is not None:
            worker = self._copy_within_worker(handle, targets, text, self.dir_ino, self.path)
            self.rfs.job_bar.begin(handle.title, worker)

    @work(thread=True, exit_on_error=False, name="Copy", group="job")
    def _copy_within_worker(self, handle: JobHandle, targets: list[Entry], text: str,
                            parent: int, cwd: str) -> None:
        assert self.fs is not None
        sources = [Source(parent, e.raw, e.attr) for e in targets]
        try:
            dest = destination(self.fs, cwd, text, many=len(targets) > 1)
            result = copy_within(self.fs, sources, dest, handle.progress, handle.cancelled)
        except TransferCancelled as exc:
            self.app.call_from_thread(self.notify, f"Copy cancelled after {exc}",
                                      severity="warning")
        except FsError as exc:  # the form again, with the input (and the notification)
            self.app.call_from_thread(self._copy_within_form, targets, text,
                                      fmt.error_text(exc))
            self.app.call_from_thread(self.reload)
            raise
        else:
            where = (posixpath.join(dest.dir_path, fmt.decode_name(dest.name)) if dest.name
                     else dest.dir_path)
            self.app.call_from_thread(
                self.notify, f"Copied to {where}: {result.summary()}, "
                f"{fmt.size(result.bytes)}",
                severity="warning" if result.loops else "information",
                timeout=15 if result.loops else 5)
        self.app.call_from_thread(self.reload)
