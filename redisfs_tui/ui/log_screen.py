"""The end of a mount daemon's log, refreshed while the screen is open."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Label, Log

from .mount_control import tail
from .nav import SCROLL_BINDINGS


class NavLog(Log):
    BINDINGS: ClassVar = SCROLL_BINDINGS


class LogScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [Binding("escape,q", "close", "Close", id="log.close")]

    def __init__(self, title: str, path: str) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.path = path
        self.last = ""

    def compose(self) -> ComposeResult:
        yield Label(f"Log of {self.title_text}: {self.path}", classes="dialog-title")
        yield NavLog(id="log", highlight=True)

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        self._read()
        self.set_interval(1.0, self._read)

    @work(thread=True, exclusive=True, exit_on_error=False, name="Read log")
    def _read(self) -> None:
        text = tail(self.path, 500)
        if text != self.last:
            self.last = text
            self.app.call_from_thread(self._show, text)

    def _show(self, text: str) -> None:
        log = self.query_one(Log)
        log.clear()
        log.write(text or "(empty log)")

    def action_close(self) -> None:
        self.dismiss(None)
