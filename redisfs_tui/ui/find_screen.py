"""Find by name across the whole filesystem: Redis matches, pages arrive as found.

Type part of a name and press enter; results list as they come (a thread worker
runs :func:`..core.search.find_names`); enter on a result jumps to it in the
browser, escape closes (and stops the search).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from ..core import FileSystem
from ..core.search import Found, find_names
from . import fmt
from .nav import NavOptionList

MAX_RESULTS = 5000


class FindScreen(ModalScreen[Found | None]):
    """Dismisses with the chosen result, or None."""

    BINDINGS: ClassVar = [Binding("escape", "close", "Close", id="find.close")]
    DEFAULT_CSS = """
    FindScreen .dialog { height: 80%; width: 90%; }
    FindScreen #find-results { height: 1fr; }
    """

    def __init__(self, fs: FileSystem, query: str = "") -> None:
        super().__init__(classes="modal")
        self.fs = fs
        self.query_text = query
        self.found: list[Found] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Find by name in {self.fs.prefix}", classes="dialog-title")
            yield Input(self.query_text, placeholder="part of a name, then enter",
                        id="find-input")
            yield NavOptionList(id="find-results")
            yield Label("Enter searches; enter on a result jumps to it; escape closes.",
                        id="find-status")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#find-input")
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        needle = event.value.strip()
        if not needle:
            return
        self.found = []
        self.query_one(OptionList).clear_options()
        self._status(f"searching for {needle!r}…")
        self._search_worker(needle)

    @work(thread=True, exclusive=True, group="find", exit_on_error=False, name="Find")
    def _search_worker(self, needle: str) -> None:
        worker = get_current_worker()
        count = 0
        try:
            for page in find_names(self.fs, needle, lambda: worker.is_cancelled):
                if worker.is_cancelled:
                    return
                page = page[:MAX_RESULTS - count]
                count += len(page)
                self.app.call_from_thread(self._add, page)
                if count >= MAX_RESULTS:
                    self.app.call_from_thread(
                        self._status, f"the first {MAX_RESULTS:,} names containing "
                        f"{needle!r} (be more precise for the rest)")
                    return
        except OSError as exc:
            self.app.call_from_thread(self._status, f"search failed: {fmt.error_text(exc)}")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(
                self._status, f"{count:,} name{'' if count == 1 else 's'} containing "
                f"{needle!r}" + (": enter jumps to the highlighted one" if count else ""))

    def _add(self, page: list[Found]) -> None:
        first = not self.found
        self.found += page
        lst = self.query_one(OptionList)
        lst.add_options([Option(f.path + ("" if f.ino else "  (damaged entry)"))
                         for f in page])
        if first and page:
            lst.highlighted = 0
            lst.focus()

    def _status(self, text: str) -> None:
        self.query_one("#find-status", Label).update(text)

    @on(OptionList.OptionSelected, "#find-results")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.workers.cancel_group(self, "find")
        self.dismiss(self.found[event.option_index])

    def action_close(self) -> None:
        self.workers.cancel_group(self, "find")
        self.dismiss(None)
