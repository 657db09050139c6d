"""Progress of the one long job that may run (copy, delete tree, snapshot, fsck), with Cancel.

Workers report through :class:`JobHandle`, which is safe to call from their
thread and throttles updates so a fast copy does not flood the UI.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Label, ProgressBar
from textual.worker import Worker, get_current_worker

from . import fmt
from .nav import keyed


class JobHandle:
    """What a worker thread holds: report progress, ask whether the user cancelled."""

    def __init__(self, bar: JobBar, title: str, unit: str = "bytes") -> None:
        self.bar = bar
        self.title = title
        self.unit = unit  # "bytes" or a noun such as "entries"
        self._last = 0.0

    def progress(self, done: int, total: int | None, label: str = "") -> None:
        """``total`` None: the job cannot count (a bare note); 0: nothing to count."""
        now = time.monotonic()
        if now - self._last < 0.1 and total is not None and done < total:
            return
        self._last = now
        self.bar.app.call_from_thread(self.bar.update_progress, done, total, label,
                                      self.unit)

    def note(self, label: str) -> None:
        """Progress without a total (fsck walking directories)."""
        self.progress(0, None, label)

    def cancelled(self) -> bool:
        try:
            return get_current_worker().is_cancelled
        except Exception:
            return False


class JobBar(Horizontal):
    """Hidden until a job starts; 'Cancel' (or Esc) cancels the job's worker."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.worker: Worker | None = None
        self.started = 0.0

    def compose(self) -> ComposeResult:
        yield Label("", id="job-title")
        yield ProgressBar(total=None, show_eta=False, id="job-progress")
        yield Label("", id="job-detail")
        yield Button(keyed("Cancel", "Esc"), id="job-cancel", variant="warning", compact=True)

    def on_mount(self) -> None:
        self.display = False

    @property
    def busy(self) -> bool:
        return self.worker is not None and not self.worker.is_finished

    def begin(self, title: str, worker: Worker) -> None:
        self.worker = worker
        self.started = time.monotonic()
        self.query_one("#job-title", Label).update(title)
        self.query_one("#job-detail", Label).update("")
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)
        self._show_percentage(False)  # no "--%" before a count is known
        self.display = True

    def update_progress(self, done: int, total: int | None, label: str,
                        unit: str = "bytes") -> None:
        bar = self.query_one(ProgressBar)
        if total is None:  # a job that cannot count: an indeterminate bar, no "--%"
            bar.update(total=None)
            self._show_percentage(False)
            detail = ""
        else:  # a known count shows its percentage; nothing to count (0 of 0) is done
            bar.update(total=max(total, 1), progress=done if total else 1)
            self._show_percentage(True)
            detail = (f"{fmt.size(done)} of {fmt.size(total)}" if unit == "bytes"
                      else f"{done:,} of {total:,} {unit}")
        if label:
            detail = f"{detail}  {label}" if detail else label
        self.query_one("#job-detail", Label).update(detail[-60:])

    def _show_percentage(self, shown: bool) -> None:
        self.query_one(ProgressBar).query_one("#percentage").display = shown

    def end(self) -> None:
        self.worker = None
        self.display = False

    def cancel(self) -> bool:
        if not self.busy or self.worker is None:
            return False
        self.worker.cancel()
        self.query_one("#job-detail", Label).update("cancelling…")
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "job-cancel":
            event.stop()
            self.cancel()
