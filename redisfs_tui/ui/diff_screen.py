"""What changed between two filesystems (typically a snapshot and its source).

Enter on a row: a changed file shows its text diff (:mod:`.file_diff`); any other row
opens the browser at that entry (in the newer filesystem, or the older one for a
removed entry)."""

from __future__ import annotations

import posixpath
import time
from collections import Counter
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from ..core import FileSystem
from ..core.snapshot import DiffEntry, diff
from . import fmt
from .file_diff import FileDiffScreen
from .nav import NavTable

STYLES = {"added": "green", "removed": "red", "modified": "yellow", "type": "magenta",
          "metadata": "cyan"}
SIGNS = {"added": "+", "removed": "-", "modified": "~", "type": "!", "metadata": "m"}


class DiffScreen(ModalScreen[None]):
    """Streams ``diff(a, b)`` into a table; Esc closes (and stops the walk)."""

    BINDINGS: ClassVar = [
        Binding("escape,q", "close", "Close", id="diff.close"),
        Binding("enter", "open_row", "Show", id="diff.open"),
    ]

    def __init__(self, a: str, b: str) -> None:
        super().__init__(classes="modal")
        self.a, self.b = a, b
        self.counts: Counter[str] = Counter()
        self.entries: dict[str, DiffEntry] = {}  # by path, the row key
        self.done = False
        self.failed = False

    def compose(self) -> ComposeResult:
        yield Label(f"Differences from {self.a} to {self.b}", classes="dialog-title")
        yield NavTable(id="diff-table", cursor_type="row")
        yield Static("comparing…", id="diff-summary")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(" ", key="sign")
        table.add_column("change", key="change")
        table.add_column("path", key="path")
        table.add_column("detail", key="detail")
        table.focus()
        self._diff_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, name="Diff")
    def _diff_worker(self) -> None:
        client = self.app.client  # type: ignore[attr-defined]
        fs_a, fs_b = FileSystem(client, self.a, read_only=True), \
            FileSystem(client, self.b, read_only=True)
        worker = get_current_worker()
        batch: list[DiffEntry] = []
        last = time.monotonic()
        for entry in diff(fs_a, fs_b):
            if worker.is_cancelled:
                return
            batch.append(entry)
            if time.monotonic() - last > 0.2:
                self.app.call_from_thread(self.add, batch)
                batch, last = [], time.monotonic()
        self.app.call_from_thread(self.add, batch, True)

    def add(self, entries: list[DiffEntry], done: bool = False) -> None:
        table = self.query_one(DataTable)
        for e in entries:
            style = STYLES.get(e.change, "")
            self.entries[e.path] = e
            table.add_row(Text(SIGNS.get(e.change, "?"), style=style),
                          Text(e.change, style=style), Text(e.path), Text(e.detail),
                          key=e.path)
            self.counts[e.change] += 1
        if done:  # the cells are Rich Text, which has no order: sort by the plain text,
            # in natural order (file2 before file10)
            table.sort("path", key=lambda cell: fmt.natural_key(cell.plain))
        self.done = done
        self._summary()

    def _summary(self) -> None:
        parts = [f"{n:,} {kind}" for kind, n in sorted(self.counts.items())]
        if self.done and not parts:
            text = "No differences: the two trees are identical."
        else:
            text = ", ".join(parts) or "comparing…"
            if not self.done:
                text += " (still comparing)"
        self.query_one("#diff-summary", Static).update(
            text + "   Enter shows the row (a file's text diff)   Esc closes")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.failed = True
            self.notify(fmt.error_text(event.worker.error), title="Diff", severity="error")
            self.query_one("#diff-summary", Static).update("diff failed   Esc closes")

    @property
    def selected(self) -> DiffEntry | None:
        table = self.query_one(DataTable)
        if not 0 <= table.cursor_row < table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self.entries.get(str(key))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_row()

    def action_open_row(self) -> None:
        """A changed file: its text diff; anything else: the entry in the browser."""
        entry = self.selected
        if entry is None:
            return
        if entry.change == "modified":
            self.app.push_screen(FileDiffScreen(self.a, self.b, entry.path))
            return
        prefix = self.a if entry.change == "removed" else self.b
        parent, name = posixpath.split(entry.path)
        self.action_close()
        self.app.open_browser(prefix, parent or "/", name)  # type: ignore[attr-defined]

    def action_close(self) -> None:
        self.workers.cancel_all()
        self.dismiss(None)
